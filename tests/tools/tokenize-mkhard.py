#!/usr/bin/python3
# Writes tests/golden/tokenize/hard.txt: hard cases for sb-tokenize (one line each).
# usage: tests/tools/tokenize-mkhard.py > tests/golden/tokenize/hard.txt
# The file is committed; this script documents how each line was made.
import sys

L = []
add = L.append
# Accents in many scripts, casing rules
add("Café résumé naïve façade coöperate piñata Ångström Øresund Straße STRASSE ẞ")
add("Tiếng Việt có nhiều dấu: Nguyễn Thị Minh Khai, Hồ Chí Minh, người Việt")
add("Zażółć gęślą jaźń. Příliš žluťoučký kůň úpěl ďábelské ódy. Ærøskøbing")
add("İstanbul IĞDIR ığdır Işık iş İŞ DİYARBAKIR — Turkish dotted and dotless i")
add("ΑΘΗΝΑ Αθήνα ΌΣΟΣ σοφός ΣΟΦΌΣ ΐ ΰ Ϊ Ϋ ἄνθρωπος ᾅδης ὙΨΗΛΌΣ")
add("Москва ЁЛКА ёлка Йошкар-Ола Україна ЇЖАК Ґанок Беларусь Ўзбек")
add("Ⅻ ⅻ Ａｂｃ ＡＢＣ ﬁnance ﬂ 𝐀𝐁𝐂 𝒜 Ω Å K ℌ ℵ ½ ² ³ ⁴ ₅")
add("Ꭰ Ꭱ ꭰ Ᏸ 𐐀𐐁 𐐨 Ა Ბ ა ბ ᲐᲑᲒ ⓐ Ⓐ Ａ")
# CJK, Japanese, Korean
add("北京是中国的首都。我爱你！汉字测试：龍、鳳、㐀、𠀀、𪜀、豈、更、丽")
add("日本語のテキスト：ひらがな、カタカナ、漢字。東京タワーは３３３ｍです。ｶﾀｶﾅ")
add("한국어 텍스트: 안녕하세요, 세계! 대한민국 서울특별시 ㄱㄴㄷ ᄀᄁ 한글")
add("混合text中文English日本語한국어mixed")
# Arabic, Hebrew, Indic, Thai
add("العربية: مَرْحَبًا بِكُمْ فِي الْعَالَمِ، كَيْفَ حَالُكَ؟ ١٢٣ ؟؛")
add("עִבְרִית: שָׁלוֹם עוֹלָם, מַה שְּׁלוֹמְךָ? ״גרשיים״ ׳")
add("हिन्दी भाषा: नमस्ते दुनिया। क़ ख़ ग़ ज़ ड़ ढ़ फ़ य़ ॐ")
add("ภาษาไทย สวัสดีครับ กรุงเทพมหานคร ๑๒๓ தமிழ் বাংলা ગુજરાતી")
# Emoji
add("emoji 😀 😂 👍🏽 👩‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷 🇯🇵 ❤️ ☺︎ 1️⃣ #️⃣ 🧑🏿‍🤝‍🧑🏻")
add("I❤NY 🙂🙃😉 text😀text 👩🏽‍🚀x")
# Combining marks: many per base letter
add("Z̴̡̢̛̗̘̙̜̝̞̟̠̀́̂̃̄̅̆̇̈̉̊̋̌̍̎̏̐̑̒̓̔̽̾̿̀́͂̓̈́͆͊͋͌ͅ͏͓͔͕͖͙͚͐͑͒͗͛ͣͤͥͦͧͨͩͪͫͬͭͮͯ͘͜͟͢͝͞͠͡a̶l̷g̸o̵")
add("e\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308\u0309\u030a x\u0323\u0302 a\u0328\u0301 o\u031b\u0300")
add("a\U0001D16D\U0001D165b q\u302E\u302Fr n\u0F71\u0F72\u0F74m")
add("\u0301leading mark, mark after space \u0301x, after punct .\u0301y")
# Control, format and zero-width characters
add("a\x01b c\x7fd e\x0bf g\x0ch i\x1cj k\x1fl m\u0085n")
add("zero\u200bwidth zw\u200cnj zw\u200dj word\u2060joiner bom\ufeffinside soft\u00adhyphen")
add("rtl\u202eoverride\u202c lrm\u200emark \u2066isolate\u2069 \U000E0041tag \uE000pua \U000F0000pua")
add("nul\x00byte\x00 \x00 end")
add("replacement \ufffd char a\ufffdb")
# Spaces
add("non\u00a0breaking\u00a0space ideographic\u3000space en\u2002em\u2003thin\u2009hair\u200a")
add("line\u2028separator para\u2029separator ogham\u1680space narrow\u202fnbsp math\u205fspace")
add("\ttabs\tinside\t\tthe\tline\t")
add("   leading and trailing spaces   ")
# Long words around max_input_chars_per_word (100)
for n in (99, 100, 101, 102, 150):
    add("x" + "a" * (n - 1) + " end")
add("é" * 100 + " " + "é" * 101)
add("E\u0301" * 100 + " " + "Á" * 101)
add("supercalifragilisticexpialidocious " * 3 + "pneumonoultramicroscopicsilicovolcanoconiosis")
add("ab" * 60)
add("漢" * 120)
# [CLS]-like strings
add("[CLS] [SEP] [PAD] [MASK] [UNK]")
add("[cls] [Cls] [CLS [CLS ] [ CLS] [[CLS]] x[SEP]y [MASK]ed un[UNK]known")
add("[CLS][SEP][CLS][SEP]")
add("##ing ## #hashtag @user C++ a--b ... U.S.A. don't 3.14 1,000 $100 50% a/b")
add("«guillemets» „quotes“ ‚single‘ ¿Qué? ¡Hola! 『括弧』 【】 — – … • · § ¶ © ® ™ ° ± × ÷ € £ ¥ ₹")
add("http://example.com/path?q=1&x=y#frag user@example.org ~/file_name.txt")
# Unusual but valid
add("")
add("   ")
add("\t")
add("\u3000\u00a0")
add("\x01\x02\x03")
add("\u200b")
add(".")
add("a")
add("hello world what a time to be alive!")
add("HELLO WORLD WHAT A TIME TO BE ALIVE!")

out = sys.stdout.buffer
for s in L:
    assert "\n" not in s and "\r" not in s
    out.write(s.encode("utf-8") + b"\n")
