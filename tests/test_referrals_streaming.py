"""The referral writer streams county by county and gives the bytes of an all-at-once rendering."""

from __future__ import annotations

import gc
import logging
import weakref
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from safetynet.outputs import csv_bytes
from safetynet.referrals import evidence as ev_module
from safetynet.referrals import write_referrals
from safetynet.referrals import writer as writer_module
from safetynet.referrals.config import load_columns_config
from safetynet.referrals.evidence import Evidence, load_evidence_config
from safetynet.warehouse import connect
from tests.test_referrals import RECORD_LINKS_DDL, RULE_STATUS_DDL, WARNINGS_DDL, _insert, _w

AS_OF = date(2026, 9, 30)
COUNTIES = ("430102", "430103", "430104", "430111", "430121")
ROUTES = (["civil_affairs"], ["medical_security", "civil_affairs"], ["hrss"],
          ["civil_affairs", "hrss"], ["medical_security"])
SEVERITIES = ("high", "medium", "low")


def _evidence(i: int) -> dict:
    """Evidence shapes the writer meets: records with and without links, facts, long lists."""
    shapes = [
        {"records": [{"table": "vehicles", "source": "ps_vehicles", "record_key": f"V{i}",
                      "link_method": "id_exact", "link_score": 1.0,
                      "fields": {"plate_number": f"湘A·{i:05d}", "vehicle_class": "passenger_car",
                                 "status": "normal"}}], "declared_income": 400 + i},
        {"settlements": [{"source": "yb_settle", "record_key": f"S{i}-{k}",
                          "settle_date": "2026-05-01", "out_of_pocket": 1000 + k,
                          "major_illness": k % 2 == 0} for k in range(i % 9)],
         "is_recipient": i % 2 == 0},
        {"unemployment": {"source": "hrss_unemp", "record_key": f"U{i}", "status": "active",
                          "registration_date": "2026-03-01", "method": "id_exact", "score": 1.0},
         "age": 30 + i % 20},
        {"household_size": 1 + i % 5, "out_of_pocket_total": 20000.5 + i, "threshold": 23400},
        # a value with braces: the template filling must read it as before
        {"vehicles": [{"source": "ps_vehicles", "record_key": f"B{i}", "plate_number": "{status}",
                       "vehicle_class": "truck", "status": "normal", "method": "id_exact",
                       "score": 0.97}]},
    ]
    return shapes[i % len(shapes)]


def _warnings() -> list[dict]:
    rows = []
    for i in range(90):
        county = COUNTIES[(i * 7) % len(COUNTIES)] if i % 11 else COUNTIES[0]
        row = _w(f"RULE_{i % 6}", f"4301{i:014d}", county, SEVERITIES[i % 3],
                 list(ROUTES[i % len(ROUTES)]), _evidence(i), household=f"H{i % 17:03d}",
                 name=f"人员{i}", person=i % 4 != 0)
        if i % 13 == 0:  # county only in the region code
            row["county_code"] = None
        rows.append(row)
    bad = _w("RULE_X", "430199000000000001", "430102", "low", ["civil_affairs"], {"age": 1})
    bad["county_code"], bad["region_code"] = "", "xx"  # no usable county code
    unrouted = _w("RULE_Y", "430199000000000002", "430103", "low", [], {"age": 2})
    unrouted["rule_pack"] = "regional@2"
    return rows + [bad, unrouted]


ROWS = _warnings()
PLAN = {r["warning_key"]: state for r, state in zip(
    ROWS, ["new", "skip", "pending", "reopened", "new", "pending", "new"] * 20, strict=False)}


@pytest.fixture()
def con(tmp_path: Path):
    con = connect(tmp_path / "wh.duckdb")
    con.execute(WARNINGS_DDL)
    con.execute(RULE_STATUS_DDL)
    con.execute(RECORD_LINKS_DDL)
    _insert(con, ROWS)
    con.execute("create table warnings.lifecycle (warning_key varchar, due_date date)")
    con.executemany("insert into warnings.lifecycle values (?, ?)",
                    [[k, date(2026, 8, 1)] for k, s in PLAN.items() if s == "pending"])
    con.executemany(
        "insert into links.record_links values (?, 'yb_settle', 'medical_settlements', ?, null, "
        "'linked', ?, ?, null, '{}')",
        [[AS_OF, f"S{i}-{k}", "id_repaired" if k % 2 else "id_exact", 0.9 + k / 100]
         for i in range(90) for k in range(i % 9) if k != 3])
    yield con
    con.close()


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _all_at_once(con, out: Path) -> dict[str, bytes]:
    """The former rendering: every warning read, parsed and sorted at once, then grouped."""
    layout, templates = load_columns_config(), load_evidence_config()
    cols = ", ".join(writer_module._WARNING_COLUMNS)
    cur = con.execute(f"select {cols} from warnings.warnings where as_of = ?", [AS_OF])
    rows = [dict(zip(writer_module._WARNING_COLUMNS, r, strict=True)) for r in cur.fetchall()]
    rows = writer_module._apply_plan(con, rows, PLAN)
    parsed = [Evidence.parse(r["evidence"]) for r in rows]
    links = writer_module._link_lookup(con, AS_OF, {k for e in parsed for k in e.link_keys()})
    warnings = sorted(
        (writer_module._Warning(
            r, e.resolve({}, lambda s, k: links.get((s, k), (None, None))),
            writer_module._county(r["county_code"], r["region_code"]), writer_module._sort_key(r))
         for r, e in zip(rows, parsed, strict=True)), key=lambda w: w.sort_key)
    groups = defaultdict(list)
    for w in warnings:
        for dept in dict.fromkeys(w.row["routes"] or []):
            groups[(dept, w.county)].append(w)
    out_files = {}
    for (dept_code, county), members in groups.items():
        dept = layout.department(dept_code)
        data = csv_bytes(dept.headers, [writer_module._cells(w, dept, layout, templates, AS_OF)
                                        for w in members])
        out_files[writer_module._relpath(dept, county, AS_OF, "csv")] = data
    return out_files


def test_files_equal_an_all_at_once_rendering(con, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(writer_module, "READ_BATCH_WARNINGS", 1)
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO, logger="safetynet.referrals.writer"):
        manifest = write_referrals(con, AS_OF, out, plan=PLAN)
    expected = _all_at_once(con, out)
    got = {rel: data for rel, data in _tree(out).items() if rel.endswith(".csv") and "/" in rel}
    assert got == expected
    assert len({rel.split("/")[1] for rel in got}) == len(COUNTIES) + 1  # + 000000
    assert any(rel.split("/")[1] == "000000" for rel in got)
    kept = sum(PLAN.get(r["warning_key"], "new") != "skip" for r in ROWS)
    assert f"referrals {AS_OF}: {kept} warnings" in caplog.text
    assert "1 warnings without a usable county code" in caplog.text
    assert manifest.rule_packs == ("default@1", "regional@2")
    # a pending lead keeps the due date of its first cycle (warnings.lifecycle)
    assert "2026-08-01" in "".join(d.decode("utf-8-sig") for d in got.values())


def test_batch_size_changes_no_byte(con, tmp_path, monkeypatch):
    monkeypatch.setattr(writer_module, "READ_BATCH_WARNINGS", 1)
    first = write_referrals(con, AS_OF, tmp_path / "one", plan=PLAN)
    monkeypatch.setattr(writer_module, "READ_BATCH_WARNINGS", 10**9)
    second = write_referrals(con, AS_OF, tmp_path / "all", plan=PLAN)
    assert _tree(tmp_path / "one") == _tree(tmp_path / "all")
    assert first.to_dict() == second.to_dict() and len(first.files) > 10
    assert [f.path for f in first.files] == sorted(f.path for f in first.files)


def test_one_county_read_and_parsed_at_a_time(con, tmp_path, monkeypatch):
    monkeypatch.setattr(writer_module, "READ_BATCH_WARNINGS", 1)
    reads: list[dict[str, int]] = []
    prepared: list[tuple[str, set[str], int]] = []
    alive: list[weakref.ref] = []
    read, prepare, finish = (writer_module._read_counties, writer_module._prepare,
                             writer_module._Sync.finish)

    def spy_read(*args):
        rows = read(*args)
        reads.append({county: len(r) for county, r in rows.items()})
        return rows

    def previous_county_released() -> bool:
        gc.collect()
        return all(ref() is None for ref in alive)

    def spy_prepare(con, as_of, county, rows, plan, tables):
        assert previous_county_released()
        out = prepare(con, as_of, county, rows, plan, tables)
        prepared.append((county, {w.county for w in out}, len(out)))
        alive[:] = [weakref.ref(w) for w in out]
        return out

    def spy_finish(self):
        assert previous_county_released()
        return finish(self)

    monkeypatch.setattr(writer_module, "_read_counties", spy_read)
    monkeypatch.setattr(writer_module, "_prepare", spy_prepare)
    monkeypatch.setattr(writer_module._Sync, "finish", spy_finish)
    write_referrals(con, AS_OF, tmp_path / "out", plan=PLAN)

    stored = {writer_module._county(r["county_code"], r["region_code"]) for r in ROWS}
    assert all(len(r) == 1 for r in reads)  # every read holds one county
    assert sorted(c for r in reads for c in r) == sorted(stored)
    assert sum(n for r in reads for n in r.values()) == len(ROWS)
    assert [c for c, _, _ in prepared] == sorted(stored)
    assert all(counties <= {county} for county, counties, _ in prepared)
    assert max(n for _, _, n in prepared) < len(ROWS) // 2


def test_small_counties_share_a_read_big_ones_read_alone():
    sizes = {"430102": 3, "430103": 3, "430104": 10, "430111": 1, "430121": 2}
    assert writer_module._batches(sizes, 6) == [
        ["430102", "430103"], ["430104"], ["430111", "430121"]]
    assert writer_module._batches(sizes, 100) == [sorted(sizes)]
    assert writer_module._batches({}, 6) == []


@pytest.mark.parametrize("values", [
    {"plate_number": "湘A1", "vehicle_class": "小型汽车", "status": "正常", "plate_type": "02"},
    {"plate_number": "", "vehicle_class": "", "status": "正常"},
    {"plate_number": "{status}", "vehicle_class": "a  b", "status": "x"},
    {"plate_number": " {plate_type} ", "plate_type": "{plate_number}", "status": "[x]"},
    {},
])
def test_compiled_templates_fill_like_the_text_filler(values):
    templates = load_evidence_config()
    extra = ["[{a}{b}] {c}", "{{a}} [x [{b}] y]", "[]{a}[ {b} ]  {c}  ", "plain"]
    for template in [t.template for t in templates.tables.values()] + extra:
        for v in (values, {"a": "1", "b": "", "c": "3"}, {"a": "{b}", "b": "2", "c": "  "}):
            assert ev_module._fill(template, v) == ev_module._fill_text(template, v), template
