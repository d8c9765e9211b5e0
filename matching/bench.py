"""Synthetic quarter for the link step: roster + department records with known truth.

    python -m safetynet.matching.bench --records 2400000 --roster 100000

prints link time, peak RSS and precision / recall of the links against the generated truth.
The generator is also used by tests/test_linker.py at a small scale.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import opencc
import pyarrow as pa
from stdnum.cn.ric import calc_check_digit

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余"
                "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
                "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤单解仇查区朴") + ["欧阳", "司马", "尉迟"]
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国文辉玉萍红志新春燕海晓"
             "林波宁鹏飞云峰斌凤雪梅琳丹龙成宇浩凯俊佳欣怡婷雅倩慧颖琦晨阳光荣德福寿安康")
# Pairs that sound alike (same toneless pinyin), used for the homophone noise.
HOMOPHONES = {"伟": "炜", "芳": "方", "明": "铭", "军": "君", "华": "化", "静": "靖",
              "丽": "莉", "强": "墙", "杰": "洁", "涛": "韬", "红": "宏", "海": "亥",
              "林": "琳", "波": "玻", "峰": "锋", "梅": "媒", "龙": "隆", "成": "诚"}
NOISE = [  # (kind, weight) for records of roster persons
    ("clean", 62), ("legacy15", 3), ("lowercase_x", 2), ("fullwidth", 2), ("spaces_dashes", 3),
    ("apostrophe", 2), ("scientific", 2), ("truncated_excel", 2), ("typo", 3),
    ("transposition", 2), ("missing", 5), ("traditional", 4), ("homophone", 2),
    ("name_spaces", 3), ("middle_dot", 1), ("no_dot", 1),
]
TABLES = ("vehicles", "pension", "properties", "deaths")
_S2T = opencc.OpenCC("s2t")


@dataclass
class Person:
    id_number: str
    name: str
    sex: str
    birth: date
    county: str


def _make_id(county: str, birth: date, seq: int) -> str:
    body = f"{county}{birth:%Y%m%d}{seq:03d}"
    return body + calc_check_digit(body + "0")


class Generator:
    """Seeded generator of roster persons, outsiders and noisy department records."""

    def __init__(self, seed: int = 7, counties: int = 20) -> None:
        self.rng = random.Random(seed)
        self.counties = [f"43{c // 10 + 1:02d}{c % 10 + 2:02d}" for c in range(counties)]
        self.used: set[str] = set()

    def person(self, county: str | None = None, birth: date | None = None,
               name: str | None = None) -> Person:
        rng = self.rng
        county = county or rng.choice(self.counties)
        birth = birth or date(1935, 1, 1) + timedelta(days=rng.randrange(27_000))
        while True:
            seq = rng.randrange(1000)
            id_number = _make_id(county, birth, seq)
            if id_number not in self.used:
                self.used.add(id_number)
                break
        if name is None:
            given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
            name = rng.choice(SURNAMES) + given
            if rng.random() < 0.01:
                name = "阿卜杜·" + name[1:] + "提"
        return Person(id_number, name, "male" if seq % 2 else "female", birth, county)

    def noisy(self, p: Person, kind: str) -> dict:
        """One department record of person p with one kind of noise."""
        rng = self.rng
        rec = {"id_number": p.id_number, "name": p.name, "sex": None, "birth_date": None,
               "region_code": None}
        idn = p.id_number
        if kind == "legacy15" and p.birth.year < 2000:
            rec["id_number"] = idn[:6] + idn[8:17]
        elif kind == "lowercase_x":
            rec["id_number"] = idn.lower()
        elif kind == "fullwidth":
            rec["id_number"] = idn.translate({ord(c): 0xFF10 + int(c) for c in "0123456789"})
        elif kind == "spaces_dashes":
            rec["id_number"] = f"{idn[:6]} {idn[6:14]}-{idn[14:]}"
        elif kind == "apostrophe":
            rec["id_number"] = "'" + idn
        elif kind == "scientific":
            rec["id_number"] = f"{int(idn[:17]) * 10:.5E}"  # as Excel shows it: 4.30102E+17
        elif kind == "truncated_excel":
            rec["id_number"] = idn[:15] + "000"
        elif kind == "typo":
            pos = rng.randrange(17)
            rec["id_number"] = idn[:pos] + str((int(idn[pos]) + rng.randrange(1, 10)) % 10) \
                + idn[pos + 1:]
        elif kind == "transposition":
            pos = next((i for i in range(rng.randrange(16), 16) if idn[i] != idn[i + 1]), None)
            if pos is not None:
                rec["id_number"] = idn[:pos] + idn[pos + 1] + idn[pos] + idn[pos + 2:]
        elif kind == "missing":
            rec["id_number"] = None
        elif kind == "traditional":
            rec["name"] = _S2T.convert(p.name)
        elif kind == "homophone":
            rec["name"] = p.name[0] + "".join(HOMOPHONES.get(c, c) for c in p.name[1:])
        elif kind == "name_spaces":
            rec["name"] = " ".join(p.name)
        elif kind == "middle_dot":
            rec["name"] = p.name.replace("·", rng.choice("•・.．"))
        elif kind == "no_dot":
            rec["name"] = p.name.replace("·", "")
        if kind in ("missing", "scientific", "truncated_excel", "traditional", "homophone") \
                or rng.random() < 0.3:
            rec["birth_date"] = p.birth
            rec["region_code"] = p.county + "001002"
            rec["sex"] = p.sex
        return rec


def build(con: duckdb.DuckDBPyConnection, as_of: date, n_records: int, n_roster: int,
          *, seed: int = 7, roster_share: float = 0.2) -> None:
    """Create staged.roster, staged.<TABLES> and bench_truth(source, record_key, person_id)."""
    gen = Generator(seed)
    rng = gen.rng
    roster = [gen.person() for _ in range(n_roster)]
    for p in rng.sample(roster, max(1, n_roster // 500)):  # namesake twins in the roster
        roster.append(gen.person(p.county, p.birth, p.name))
    roster_rows = {
        "household_id": [f"H{i:07d}" for i in range(len(roster))],
        "id_number": [p.id_number for p in roster], "name": [p.name for p in roster],
        "sex": [p.sex for p in roster], "birth_date": [p.birth for p in roster],
        "region_code": [p.county + "001002" for p in roster],
    }
    con.register("roster_rows", pa.table(roster_rows))
    con.execute(f"""create or replace table staged.roster as select
        household_id, id_number, name, sex, birth_date, 'head' as relation, region_code,
        'urban' as urban_rural, 'dibao' as category, 'active' as status,
        null::date as assistance_start, null::date as gradual_exit_start,
        1 as household_size, 300.0 as declared_income, date '{as_of}' as as_of,
        'ca_roster' as _source, household_id as _record_key,
        row_number() over () + 1 as _row, 'roster.csv' as _file from roster_rows""")
    con.unregister("roster_rows")
    kinds = [k for k, _ in NOISE]
    weights = [w for _, w in NOISE]
    per_table = n_records // len(TABLES)
    truth_rows: dict[str, list] = {"source": [], "record_key": [], "person_id": []}
    for t in TABLES:
        cols: dict[str, list] = {k: [] for k in
                                 ("id_number", "name", "sex", "birth_date", "region_code")}
        keys = []
        for i in range(per_table):
            roll = rng.random()
            if roll < roster_share:
                p = rng.choice(roster)
                kind = rng.choices(kinds, weights)[0]
                rec = gen.noisy(p, kind)
                true_id = p.id_number
            elif roll < roster_share + 0.01:  # namesake decoy: same name, birth, county
                p = rng.choice(roster)
                rec = gen.noisy(gen.person(p.county, p.birth, p.name), "clean")
                true_id = None
            else:
                rec = gen.noisy(gen.person(), rng.choice(("clean",) * 19 + ("missing",)))
                true_id = None
            for k in cols:
                cols[k].append(rec[k])
            keys.append(f"{t}-{i}")
            truth_rows["source"].append(f"bench_{t}")
            truth_rows["record_key"].append(f"{t}-{i}")
            truth_rows["person_id"].append(true_id)
        con.register("dept_rows", pa.table({**cols, "_record_key": keys}))
        con.execute(f"""create or replace table staged.{t} as select
            id_number, name, sex, birth_date, region_code, date '{as_of}' as as_of,
            'bench_{t}' as _source, _record_key, row_number() over () + 1 as _row,
            '{t}.csv' as _file from dept_rows""")
        con.unregister("dept_rows")
    con.register("truth_rows", pa.table(truth_rows))
    con.execute("create or replace table main.bench_truth as select * from truth_rows")
    con.unregister("truth_rows")


def quality(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, float]:
    """Links against bench_truth: false links (to the wrong person, or to anyone for an
    outsider), missed (a roster person's record left unlinked) and review (held back)."""
    tp, fp, missed, review = con.execute("""
        select count(*) filter (where l.status = 'linked' and l.person_id = t.person_id),
               count(*) filter (where l.status = 'linked'
                                and l.person_id is distinct from t.person_id),
               count(*) filter (where l.status = 'unlinked' and t.person_id is not null),
               count(*) filter (where l.status = 'review')
        from links.record_links l join main.bench_truth t
          on t.source = l.source and t.record_key = l.record_key
        where l.as_of = ?""", [as_of]).fetchone()
    return {"true_links": tp, "false_links": fp, "missed": missed, "review": review,
            "precision": tp / (tp + fp) if tp + fp else 1.0,
            "recall": tp / (tp + fp + missed + review) if tp + missed + review else 1.0}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    from safetynet.matching.linker import link
    from safetynet.warehouse import connect

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2_400_000)
    parser.add_argument("--roster", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    as_of = date(2025, 3, 31)
    with tempfile.TemporaryDirectory() as tmp:
        con = connect(Path(tmp) / "bench.duckdb", threads=args.threads)
        con.execute("set enable_progress_bar = false")
        t0 = time.perf_counter()
        build(con, as_of, args.records, args.roster)
        print(f"generated {args.records:,} records x {args.roster:,} roster persons "
              f"in {time.perf_counter() - t0:.1f}s")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cpu0 = _cpu()
        t0 = time.perf_counter()
        summary = link(con, as_of)
        elapsed = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"link: {elapsed:.1f}s wall, {_cpu() - cpu0:.1f}s CPU, peak RSS {rss:.0f} MiB "
              f"(before link {rss_before:.0f} MiB)")
        for source, s in summary.sources.items():
            print(f"  {source}: {s.records:,} records, linked {s.linked}, review {s.review}, "
                  f"unlinked {s.unlinked:,}")
        print("  quality:", quality(con, as_of))
        t0 = time.perf_counter()
        link(con, as_of)
        print(f"rerun: {time.perf_counter() - t0:.1f}s")
        con.close()


if __name__ == "__main__":
    main()
