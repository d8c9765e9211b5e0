"""Names and resident ID numbers (GB 11643) of the synthetic population, vectorised.

Check characters come from python-stdnum (``stdnum.cn.ric.calc_check_digit``). Names are
simplified Chinese; the noisy spellings (traditional, homophone, spaces, dot look-alikes) are
derived from the clean name and never stored as a person's own name.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

import numpy as np
from stdnum.cn import ric

from safetynet.sample_data.dates import ymd

# Common surnames, roughly by frequency, with the ones typical of Hunan moved up.
SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "彭", "曾", "谭", "徐", "孙", "马", "朱",
            "胡", "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "肖",
            "田", "董", "袁", "潘", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "廖", "贺", "吕", "丁", "任",
            "沈", "姚", "卢", "姜", "崔", "钟", "陆", "汪", "范", "金", "石", "贾", "夏", "付", "方", "白", "邹",
            "孟", "熊", "秦", "邱", "江", "尹", "薛", "段", "雷", "侯", "龙", "史", "陶", "黎", "顾", "毛", "龚",
            "邵", "万", "严", "易", "戴", "莫", "向", "汤", "单", "欧阳", "司马", "诸葛")
_MALE = ("伟刚强军勇杰涛斌明超辉鹏华建国平志峰波龙飞东俊浩宇博文林海兵红宏鸿成诚忠中福富安凯"
         "天学祥翔阳洋宁荣亮良胜生德仁永彬庆新鑫岩彦昊皓剑健坚朝磊雷隆冬宝贵连振书承钟升保君卫"
         "维威立利力铭鸣锋丰枫晖会捷咏滨瑜昱春清青晶敬")
_FEMALE = ("丽莉芳娟敏静秀英华慧玉兰霞萍红梅美玲燕艳娜琳雪婷颖莹菁婧芸云岚玫芝蔷凤惠洁婕桃纯霖"
           "灵凌龄欣馨妍雯蕾菲莲珍贞淑舒鹃香蓉容凝瑛薇晴心巧月翠桂菊")
MALE_CHARS = tuple(dict.fromkeys(_MALE))
FEMALE_CHARS = tuple(dict.fromkeys(_FEMALE))
MINORITY_FIRST = ("阿卜杜拉", "买买提", "艾力", "吐尔逊", "努尔", "热合曼", "阿不都", "麦麦提",
                  "依明", "玉素甫", "阿迪力", "艾尔肯", "亚森")
MINORITY_FIRST_F = ("阿依古丽", "古丽", "帕提古丽", "热依拉", "迪丽拜尔", "努尔古丽", "米热古丽")
MINORITY_LAST = ("买买提", "吐尔逊", "艾力", "阿不都热西提", "依明", "玉素甫", "热合曼", "托合提",
                 "卡德尔", "阿布拉", "肉孜", "司马义")
MIDDLE_DOT = "·"
# Look-alikes of the middle dot seen in department files ("" = written without it).
DOT_VARIANTS = ("•", "・", ".", "．", "﹒", "")
DOT_VARIANTS_GBK = (".", "．", "﹒", "")
_SURNAME_WEIGHTS = 1.0 / np.arange(1, len(SURNAMES) + 1) ** 0.9


@lru_cache(maxsize=1)
def _converters():
    import opencc

    return opencc.OpenCC("s2t"), opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def homophones() -> dict[str, tuple[str, ...]]:
    """Given-name character -> other given-name characters with the same toneless pinyin."""
    from pypinyin import lazy_pinyin

    _, t2s = _converters()
    groups: dict[str, list[str]] = defaultdict(list)
    for ch in sorted(set(MALE_CHARS) | set(FEMALE_CHARS)):
        groups[lazy_pinyin(ch)[0]].append(ch)
    out: dict[str, tuple[str, ...]] = {}
    for members in groups.values():
        for ch in members:
            others = tuple(o for o in members if o != ch and t2s.convert(o) != ch)
            if others:
                out[ch] = others
    return out


def make_names(female: np.ndarray, minority: np.ndarray, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """Random names (object array) and surname lengths (0 for minority names)."""
    n = len(female)
    surname_idx = rng.choice(len(SURNAMES), size=n, p=_SURNAME_WEIGHTS / _SURNAME_WEIGHTS.sum())
    surnames = np.array(SURNAMES, dtype=object)[surname_idx]
    male_pool = np.array(MALE_CHARS, dtype=object)
    female_pool = np.array(FEMALE_CHARS, dtype=object)
    first = np.where(female, female_pool[rng.integers(0, len(female_pool), n)],
                     male_pool[rng.integers(0, len(male_pool), n)])
    second = np.where(female, female_pool[rng.integers(0, len(female_pool), n)],
                      male_pool[rng.integers(0, len(male_pool), n)])
    two = rng.random(n) < 0.72
    names = surnames + first + np.where(two, second, "")
    surname_len = np.array([len(s) for s in SURNAMES], dtype=np.int8)[surname_idx]
    if minority.any():
        k = int(minority.sum())
        fem = female[minority]
        first_m = np.where(fem, np.array(MINORITY_FIRST_F, dtype=object)[
            rng.integers(0, len(MINORITY_FIRST_F), k)], np.array(MINORITY_FIRST, dtype=object)[
            rng.integers(0, len(MINORITY_FIRST), k)])
        last_m = np.array(MINORITY_LAST, dtype=object)[rng.integers(0, len(MINORITY_LAST), k)]
        names[minority] = first_m + MIDDLE_DOT + last_m
        surname_len[minority] = 0
    return names.astype(object), surname_len


def traditional(names: np.ndarray) -> np.ndarray:
    """Names in traditional characters (OpenCC s2t), one conversion per distinct name."""
    s2t, _ = _converters()
    uniq, inverse = np.unique(names.astype(str), return_inverse=True)
    return np.array([s2t.convert(u) for u in uniq.tolist()], dtype=object)[inverse]


def name_flags(names: np.ndarray, surname_len: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per name: (traditional spelling differs and converts back, has a homophone character)."""
    _, t2s = _converters()
    trad = traditional(names)
    has_trad = np.array([t != n and t2s.convert(t) == n for t, n in zip(trad, names, strict=True)])
    table = homophones()
    has_homo = np.array([any(c in table for c in n[s:]) if s else False
                         for n, s in zip(names.tolist(), surname_len.tolist(), strict=True)])
    return has_trad, has_homo


def homophone_variant(name: str, surname_len: int, param: int) -> str:
    """Replace one given-name character (never the surname) by a same-pinyin character."""
    table = homophones()
    spots = [i for i in range(surname_len, len(name)) if name[i] in table]
    i = spots[param % len(spots)]
    options = table[name[i]]
    return name[:i] + options[(param // 7) % len(options)] + name[i + 1:]


def spaced_variant(name: str, surname_len: int, param: int) -> str:
    """A space (ASCII or ideographic) inside the name, usually after the surname."""
    cut = surname_len if param % 3 else max(1, len(name) - 1)
    space = "\u3000" if param % 5 == 0 else " "
    return name[:cut] + space + name[cut:]


def dot_variant(name: str, param: int, gbk: bool = False) -> str:
    """The middle dot of a minority name replaced by a look-alike (or dropped)."""
    variants = DOT_VARIANTS_GBK if gbk else DOT_VARIANTS
    return name.replace(MIDDLE_DOT, variants[param % len(variants)])


def id_bodies(prefix: np.ndarray, birth: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """17-digit ID bodies as int64: region(6) + birth date(8) + sequence(3)."""
    y, m, d = ymd(birth)
    return (np.asarray(prefix, dtype=np.int64) * 10**11 + (y * 10000 + m * 100 + d) * 1000
            + np.asarray(seq, dtype=np.int64))


def with_check(bodies: np.ndarray) -> np.ndarray:
    """18-character IDs (object array): body plus the GB 11643 check character (python-stdnum)."""
    text = bodies.astype(str).tolist()
    return np.array([b + ric.calc_check_digit(b + "0") for b in text], dtype=object)


def legacy15(id18: str) -> str:
    """The first-generation 15-digit form of an 18-digit ID (born 1900-1999)."""
    return id18[:6] + id18[8:17]
