#!/usr/bin/python3
# Random hard text for differential tests of sb-tokenize against Hugging Face
# (tests/tools/tokenize-differential.sh): letters of many scripts, combining marks,
# emoji, controls and spaces, punctuation, special-token lookalikes, random code
# points, words near the 100-character limit.
# usage: tokenize-random.py SEED LINES > file
import random, sys
random.seed(int(sys.argv[1]))
n = int(sys.argv[2])
pools = [
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" * 3,
  " " * 20 + "\t",
  "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
  "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝßİıŁłŒœŠšŽžƒ",
  "".join(chr(c) for c in range(0x300, 0x370)),
  "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩάέήίόύώΐΰ",
  "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ",
  "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年豈更車",
  "가나다라마바사아자차카타파하한국어안녕하세요ㄱㄴㄷᄀᄁ",
  "مرحبابالعالمَُِّْשלוםעולםִָ",
  "😀👍🏽👩\u200d💻🏳️\u200d🌈🇫🇷❤️\ufe0f",
  "\u00a0\u3000\u2002\u200b\u200c\u200d\u2060\ufeff\u00ad\u202e\x01\x7f\x0b\x0c\u0085\u2028",
  "—–…«»„“”‘’¿¡·•§¶©®™°±×÷€£¥₹",
]
specials = ["[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]", "[cls]", "[CLS", "##", "[[SEP]]"]
def rand_cp():
    while True:
        c = random.randint(0x80, 0x2FFFF)
        if 0xD800 <= c <= 0xDFFF: continue
        return chr(c)
for _ in range(n):
    parts = []
    for _ in range(random.randint(0, 25)):
        r = random.random()
        if r < 0.05:
            parts.append(random.choice(specials))
        elif r < 0.10:
            parts.append(rand_cp())
        elif r < 0.12:
            ch = random.choice(pools[0] + pools[3])
            parts.append(ch * random.randint(95, 105))
        else:
            pool = random.choice(pools)
            parts.append("".join(random.choice(pool) for _ in range(random.randint(1, 8))))
    line = "".join(parts).replace("\n", " ").replace("\r", " ")
    sys.stdout.write(line + "\n")
