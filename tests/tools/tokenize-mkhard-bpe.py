#!/usr/bin/env python3
# Writes the hard cases of the byte-level BPE tests (tests/13-tokenize-bpe.sh), one a line:
#   tests/golden/tokenize/bpe/hard-bpe.txt          valid UTF-8
#   tests/golden/tokenize/bpe/hard-bpe-invalid.txt  invalid UTF-8 (read with
#                                                   --replace-invalid; Hugging Face's
#                                                   reference decodes it to U+FFFD alike)
# usage, from the top of the source tree:  tests/tools/tokenize-mkhard-bpe.py
# The files are committed; this script documents how each line was made.
import os

L = []
add = L.append
# Contractions, case-insensitive in Qwen's pattern (and U+017F folds to s)
add("it's IT'S It'Ll we'VE I'm they'RE you'd y'all can't won't ''s 'S 'rE 'ſ x'ſ o'clock")
add("'s 't 're 've 'm 'll 'd 'x ' s '' 'hello '123 ’s")
# White space runs: spaces, tabs, CR inside a line, NBSP, U+3000, others
add("a  b   c    d     e")
add("\t\tx\t \t y \t")
add("  leading spaces")
add("trailing spaces   ")
add("   ")
add("a\rb \r c\r\r d \r")
add("x\u00a0y\u00a0\u00a0z \u00a0 w")
add("全角\u3000\u3000スペース\u3000x")
add("\u2000\u2001\u2002\u2003 \u2009x\u200a\u202f\u205f\u1680y\u0085z\u2028w\u2029v")
add("\x0b\x0c vertical tab and form feed \x0b")
add(" \u200b zero width \u200c\u200d \ufeff bom \u2060")
# Digits in many scripts and runs
add("1234567890 3.14159 2024-12-03 a1b2c3 007 0x1F 1e-9 +33 6 12 34 56")
add("١٢٣٤٥ ۱۲۳ १२३ ১২৩ ๑๒๓ １２３ ⅫⅣ ½ ² ³ ⁴ ₅ ① ⑴")
add("99999999999999999999999999999999999999999999999999")
# Added tokens of the test files: Qwen's and RoBERTa's
add("<|im_start|>user hi<|im_end|><|endoftext|><|endoftext|>")
add("<|im_start|<|im_end| <|endoftext|x <|endoftext|>tail")
add("<tool_call>{\"a\": 1}</tool_call> <|fim_prefix|>x<|fim_middle|>y<|fim_suffix|>")
add("<mask> a<mask>b  <mask>  x <mask>")
add("<s>x</s> <pad> <unk> </s></s> <s><s>")
add("<|vision_start|><|image_pad|><|vision_end|> <|box_start|>1,2<|box_end|>")
# Emoji: ZWJ sequences, skin tones, flags, keycaps
add("👩‍👩‍👧‍👦 👍🏿 👍🏻 🏳️‍⚧️ 🏳️‍🌈 🧑🏽‍🚀 🇺🇳 🇯🇵🇫🇷 1️⃣ #️⃣ *️⃣")
add("😀😀😀😀😀😃😄😁 🙂🙃 ❤️‍🔥 🫶🏾 text😀text")
# Combining marks and normalization
add("e\u0301 e\u0301\u0327 a\u0308\u0304 o\u0328\u0304 \u1e9b\u0323 q\u0307\u0323")
add("\u0301 leading mark \u0327\u0301 two marks")
add("\u1100\u1161\u11a8 \u1100\u1161 \uac00\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af")
add("\u212b \u2126 \u212a \u0344 \u0958 \u2adc \ufb1d \u0f73 \u0f75 \u0f81")
add("Z\u0338\u0322\u031b\u0317\u034e\u032f\u031c\u030b\u0344\u0357\u0315a\u0336\u0339"
    "\u0354\u033el\u0338\u0317\u0308g\u0334\u033a\u0344o\u0337\u0330\u033e zalgo")
add("\u0915\u093c \u0929 \u09a1\u09bc \u0b2f\u0b3c \u05e9\u05c1\u05bc \u0627\u0653 \u0648\u0654")
add("\u0dd9\u0dcf \u0dd9\u0dca \u0d46\u0d3e \u0bc6\u0bbe \u0b47\u0b3e \u1025\u102e")
add("\U00011099\U000110ba \U00011131\U00011127 \U00011347\U0001133e \U000114b9\U000114ba")
add("ﬁnance ﬂ ﬀ ŉ ǆ ǅ Ǆ ㎏ ℡ ™ ㈱ ⑩ ﬃ ſt ﬅ")
# Scripts without spaces, right to left, mixed
add("北京是中国的首都我爱你汉字测试龍鳳㐀𠀀𪜀豈更丽日本語のテキストひらがなカタカナ")
add("東京タワーは３３３ｍです。ｶﾀｶﾅ ﾊﾝｶｸ")
add("한국어텍스트안녕하세요세계대한민국서울특별시ㄱㄴㄷ")
add("العربية: مَرْحَبًا بِكُمْ فِي الْعَالَمِ، كَيْفَ حَالُكَ؟ ١٢٣ ؟؛")
add("עִבְרִית: שָׁלוֹם עוֹלָם, מַה שְּׁלוֹמְךָ? ״גרשיים״ ׳")
add("mixed \u202bRTL \u05e9\u05dc\u05d5\u05dd 123\u202c and \u200fmarks\u200e ok")
add("ภาษาไทยสวัสดีครับกรุงเทพมหานคร ಕನ್ನಡ ဗမာ ລາວ ខ្មែរ ትግርኛ ᓀᐦᐃᔭᐍᐏᐣ")
add("Ελληνικά: ΑΘΗΝΑ Αθήνα ΌΣΟΣ σοφός ἄνθρωπος ᾅδης Кириллица: ЁЛКА ёлка Ґанок")
# Long words and runs
add("a" * 1000)
add("Pneumonoultramicroscopicsilicovolcanoconiosis" * 40)
add("x" * 5000 + " end")
add("的" * 2000)
add("!" * 300 + "?" * 300 + "." * 300)
add(" " * 700 + "x")
add("-" * 200 + "=" * 200 + "_" * 200)
# Punctuation, code, URLs
add("!!!???... --- «» “quoted” „x“ ‹›  $$$%%% ... ''' \"\"\" ``` ~~~")
add("URL: https://example.com/a/b?c=d&e=f#g email@example.com @user #tag")
add("C++ && || -> => :: != == <= >= << >> ++ -- ** // /* */ <!-- -->")
add("<div class=\"x\">&amp; &lt;tag&gt;</div> {\"json\": [1, 2.5e3, null]}")
add("def f(x):\treturn x**2  # comment\r")
# Private use, noncharacters, controls, unassigned
add("\ue000\uf8ff \U000f0000 \U0010fffd \ufdd0 \ufffe \uffff \U0001fffe \U0010ffff")
add("a\x00b \x01\x02\x03 \x1b[0m \x7f \x80\x9f")
add("\u0378 \u0380 \u2fff \U0001ff00 \U00030000 \U000e0001 \U000e0100")
add("")

INVALID = [
    b"caf\xe9 latin-1 byte",
    b"\xff\xfe start bytes",
    b"cut \xe2\x82 sequence",
    b"overlong \xc0\xaf and \xe0\x80\xaf",
    b"surrogate \xed\xa0\x80 half",
    b"five \xf8\x88\x80\x80\x80 six \xfc\x84\x80\x80\x80\x80",
    b"lone \x80\x80 continuation",
    b"end cut \xf0\x9f\x98",
    b"\xf4\x90\x80\x80 above U+10FFFF",
    b"mixed \xe4\xb8\xad\xe6\x96 ok \xe6\x96\x87 <|endoftext|\xff>",
]

here = os.path.join(os.path.dirname(__file__), "..", "golden", "tokenize", "bpe")
with open(os.path.join(here, "hard-bpe.txt"), "w", encoding="utf-8", newline="") as f:
    for line in L:
        assert "\n" not in line
        f.write(line + "\n")
with open(os.path.join(here, "hard-bpe-invalid.txt"), "wb") as f:
    for line in INVALID:
        f.write(line + b"\n")
