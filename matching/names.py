"""Comparison keys for Chinese names. Keys are for comparing only: a stored name is never rewritten.

- `name_key`: NFKC, OpenCC ``t2s`` (traditional -> simplified), all whitespace removed, the dozen
  middle-dot look-alikes of minority names unified to ``·`` (kept), Latin letters case-folded.
- `name_key_nodot`: the same without the dot (minority names are often written without one).
- `pinyin_key`: toneless pinyin (pypinyin) with surname readings (单 shan, 曾 zeng, 尉迟 yuchi ...),
  for homophones: 张三 / 章三 -> ``zhangsan`` (no separators, so romanised names compare too).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import opencc
import pyarrow as pa
import pyarrow.compute as pc
from pypinyin import Style, lazy_pinyin

DOT = "·"
# Middle-dot look-alikes seen in minority names (after NFKC, which maps full-width forms).
DOT_LOOKALIKES = "·•・.．-﹒。‧･⋅∙·‐‑‒–—―－﹣ㆍ⸱ᐧ"
_DOT_TABLE = str.maketrans(dict.fromkeys(DOT_LOOKALIKES, DOT))
_WS_RE = re.compile(r"[^\S\n]+")
_DOT_RUN_RE = re.compile(DOT + "{2,}")
_DOT_EDGE_RE = re.compile(rf"(?m)^{DOT}+|{DOT}+$")
_PINYIN_JUNK_RE = re.compile(r"[^0-9a-z]+")

# Surname readings that differ from the most common reading of the character.
COMPOUND_SURNAMES: dict[str, str] = {  # readings written with a space for legibility
    "尉迟": "yu chi", "万俟": "mo qi", "长孙": "zhang sun", "单于": "chan yu", "澹台": "tan tai",
    "欧阳": "ou yang", "司马": "si ma", "上官": "shang guan", "诸葛": "zhu ge", "东方": "dong fang",
    "皇甫": "huang fu", "令狐": "ling hu", "宇文": "yu wen", "慕容": "mu rong", "夏侯": "xia hou",
    "公孙": "gong sun", "轩辕": "xuan yuan", "西门": "xi men", "南宫": "nan gong", "呼延": "hu yan",
    "赫连": "he lian", "公羊": "gong yang", "闾丘": "lv qiu", "东郭": "dong guo", "端木": "duan mu",
    "百里": "bai li", "钟离": "zhong li", "拓跋": "tuo ba", "司徒": "si tu", "司空": "si kong",
    "太史": "tai shi", "申屠": "shen tu", "濮阳": "pu yang", "淳于": "chun yu", "仲孙": "zhong sun",
    "鲜于": "xian yu", "乐正": "yue zheng", "亓官": "qi guan", "第五": "di wu", "左丘": "zuo qiu",
    "宗政": "zong zheng", "公冶": "gong ye", "巫马": "wu ma", "颛孙": "zhuan sun",
    "漆雕": "qi diao", "谷梁": "gu liang", "段干": "duan gan", "梁丘": "liang qiu",
}
SURNAMES: dict[str, str] = {
    "单": "shan", "曾": "zeng", "解": "xie", "仇": "qiu", "朴": "piao", "查": "zha", "区": "ou",
    "覃": "qin", "盖": "ge", "缪": "miao", "翟": "zhai", "召": "shao", "繁": "po", "员": "yun",
    "乐": "yue", "隗": "wei", "宓": "mi", "秘": "bi", "那": "na", "过": "guo", "种": "chong",
    "黑": "he", "句": "gou", "朝": "chao", "任": "ren", "华": "hua", "燕": "yan", "纪": "ji",
    "葛": "ge", "柏": "bai", "薄": "bo", "沈": "shen", "重": "chong", "车": "che", "冼": "xian",
    "洗": "xian", "折": "she", "能": "nai", "谌": "chen", "尉": "wei", "长": "chang", "石": "shi",
    "宿": "su", "卜": "bu", "曲": "qu", "臧": "zang", "藏": "zang", "厍": "she", "贲": "ben",
    "郇": "huan", "莘": "shen", "牟": "mou", "祭": "zhai", "眭": "sui", "万": "wan", "褚": "chu",
    "贾": "jia", "逄": "pang", "应": "ying", "殷": "yin", "恽": "yun", "粘": "nian", "都": "du",
    "蕃": "pi", "适": "kuo", "阚": "kan", "蔺": "lin", "调": "diao", "囤": "tun", "俞": "yu",
    "占": "zhan", "相": "xiang", "率": "shuai", "啜": "chuai", "射": "ye", "教": "jiao",
}

_T2S = opencc.OpenCC("t2s")


def _keys_joined(values: list[str]) -> list[str]:
    """Name keys of many names at once: NFKC and t2s run once over one joined string."""
    if not values:
        return []
    joined = "\n".join(v.replace("\n", " ").replace("\r", " ") for v in values)
    # dots first: NFKC would turn some look-alikes (U+318D) into letters the table does not know
    s = _T2S.convert(unicodedata.normalize("NFKC", joined.translate(_DOT_TABLE)))
    s = _WS_RE.sub("", s).translate(_DOT_TABLE).casefold()
    if not s.isascii():  # a removed space can leave a combining mark: compose it (idempotence)
        s = unicodedata.normalize("NFKC", s).translate(_DOT_TABLE)
    s = _DOT_EDGE_RE.sub("", _DOT_RUN_RE.sub(DOT, s))
    return s.split("\n")


def name_key(name: str | None) -> str | None:
    """Comparison key: t2s, NFKC, no whitespace, one ``·`` for any middle-dot look-alike.

    Examples:
        >>> name_key(" 張 三 ")
        '张三'
        >>> name_key("阿卜杜．热合曼")
        '阿卜杜·热合曼'
    """
    if name is None:
        return None
    key = _keys_joined([str(name)])[0]
    return key or None


def name_key_nodot(name: str | None) -> str | None:
    """`name_key` without the middle dot: 阿卜杜·热合曼 and 阿卜杜热合曼 agree."""
    key = name_key(name)
    return (key.replace(DOT, "") or None) if key else None


@lru_cache(maxsize=50_000)
def _char_pinyin(char: str) -> str:
    """Toneless default reading of one character (non-Han characters stay as they are)."""
    return "".join(lazy_pinyin(char, style=Style.NORMAL))


@lru_cache(maxsize=200_000)
def pinyin_from_key(key: str) -> str:
    """Pinyin of an already normalised dot-less name key. Read character by character (a name is not a phrase, and
    per-character readings are consistent on both sides of a comparison), surname first."""
    surname, rest = "", key
    if len(key) >= 3 and key[:2] in COMPOUND_SURNAMES:
        surname, rest = COMPOUND_SURNAMES[key[:2]].replace(" ", ""), key[2:]
    elif len(key) >= 2 and key[0] in SURNAMES:
        surname, rest = SURNAMES[key[0]], key[1:]
    text = surname + "".join(_char_pinyin(c) for c in rest)
    return _PINYIN_JUNK_RE.sub("", text.casefold())


def surname_reading(key: str) -> str:
    """Toneless reading of the surname of a dot-less name key (the first character unless a
    compound surname): a blocking key that traditional forms and homophones leave intact.

    Examples:
        >>> surname_reading("曾国藩"), surname_reading("欧阳修")
        ('zeng', 'ouyang')
    """
    if len(key) >= 3 and key[:2] in COMPOUND_SURNAMES:
        text = COMPOUND_SURNAMES[key[:2]].replace(" ", "")
    elif len(key) >= 2 and key[0] in SURNAMES:
        text = SURNAMES[key[0]]
    else:
        text = _char_pinyin(key[:1]) if key else ""
    return _PINYIN_JUNK_RE.sub("", text.casefold())


def pinyin_key(name: str | None) -> str | None:
    """Toneless pinyin of the dot-less key, surname read as a surname: 曾国藩 -> ``zengguofan``."""
    key = name_key_nodot(name)
    return (pinyin_from_key(key) or None) if key else None


NAME_SCHEMA = pa.schema([
    ("raw", pa.string()), ("name_key", pa.string()), ("name_key_nodot", pa.string()),
    ("pinyin_key", pa.string()),
])


def name_keys(
    values: Iterable[str | None] | pa.Array | pa.ChunkedArray,
    *,
    with_pinyin: bool = True,
    assume_distinct: bool = False,
) -> pa.Table:
    """Keys for many names: one row per distinct raw value (``raw`` is the join key).

    ``with_pinyin=False`` leaves ``pinyin_key`` null: pinyin costs ~20-40 µs a name, so compute
    it only for the few names that need it (candidate pairs whose keys differ).
    """
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = values.cast(pa.string())
    else:
        arr = pa.array((None if v is None else str(v) for v in values), type=pa.string())
    distinct = arr if assume_distinct else pc.unique(arr)
    raw = [v for v in distinct.to_pylist() if v is not None]
    keys = [k or None for k in _keys_joined(raw)]
    nodot = [(k.replace(DOT, "") or None) if k else None for k in keys]
    pinyin = ([(pinyin_from_key(k) or None) if k else None for k in nodot] if with_pinyin
              else [None] * len(raw))
    if len(raw) != len(distinct):
        raw.append(None)
        keys.append(None)
        nodot.append(None)
        pinyin.append(None)
    return pa.table([pa.array(c, type=pa.string()) for c in (raw, keys, nodot, pinyin)],
                    schema=NAME_SCHEMA)
