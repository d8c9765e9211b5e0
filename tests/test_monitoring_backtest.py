"""Rule back-test with the real rules engine: a regional pack that exempts motorcycles, replayed
on two stored quarters in a scratch copy; the live warnings, history and lifecycle stay as they
were."""

from __future__ import annotations

import random
from datetime import date

import pytest

from safetynet.monitoring.backtest import backtest
from safetynet.monitoring.lifecycle import update_lifecycle
from safetynet.monitoring.schema import insert_rows
from safetynet.warehouse import connect
from safetynet.warning_rules.engine import evaluate
from tests.fixtures.monitoring.builders import COUNTIES, Q1, Q2, open_warehouse, snapshot

LIVE = ("warnings.warnings", "warnings.rule_status", "warnings.history", "warnings.lifecycle",
        "warnings.audit")
ROSTER_COLUMNS = ("as_of", "household_id", "id_number", "name", "sex", "birth_date", "relation",
                  "region_code", "urban_rural", "category", "status", "assistance_start",
                  "gradual_exit_start", "household_size", "declared_income", "person_id",
                  "id_quality", "name_key", "birth_date_eff", "sex_eff", "county_code",
                  "_source", "_record_key", "_row", "_file")
VEHICLE_COLUMNS = ("as_of", "_source", "_record_key", "_row", "_file", "id_number", "name",
                   "plate_number", "plate_type", "vehicle_class", "status", "disabled_use",
                   "registration_date", "person_id", "link_method", "link_score")


def _pid(i: int) -> str:
    return f"43010219800{i:06d}X"


def _build(con, seed: int = 5) -> dict[date, dict[str, str]]:
    """30 recipient households in 3 counties; vehicles per person and quarter. Returns, per
    quarter, person -> county for people whose only qualifying vehicles are motorcycles."""
    rnd = random.Random(seed)
    con.execute(f"create table links.roster ({', '.join(c + ' varchar' for c in ROSTER_COLUMNS)})")
    con.execute("alter table links.roster alter as_of type date")
    for c in ("birth_date", "assistance_start", "gradual_exit_start", "birth_date_eff"):
        con.execute(f"alter table links.roster alter {c} type date")
    con.execute("alter table links.roster alter household_size type integer")
    con.execute("alter table links.roster alter declared_income type double")
    con.execute("alter table links.roster alter _row type bigint")
    con.execute("create table staged.standards (as_of date, county_code varchar, "
                "urban_rural varchar, monthly_standard double)")
    con.execute("""create table links.vehicles (as_of date, _source varchar, _record_key varchar,
        _row bigint, _file varchar, id_number varchar, name varchar, plate_number varchar,
        plate_type varchar, vehicle_class varchar, status varchar, disabled_use boolean,
        registration_date date, person_id varchar, link_method varchar, link_score double)""")
    motorcycle_only: dict[date, dict[str, str]] = {}
    for q in (Q1, Q2):
        roster, vehicles = [], []
        for h in range(30):
            county = COUNTIES[h % 3]
            for m in range(2):
                i = 2 * h + m
                roster.append([q, f"H{h:03d}", _pid(i), "张三", "male", date(1980, 1, 1),
                               "head" if m == 0 else "spouse", county + "001001", "urban",
                               "dibao", "active", None, None, 2, 300.0, _pid(i), "valid", "张三",
                               date(1980, 1, 1), "male", county, "mz_roster", f"R{i}", i + 2,
                               "roster.csv"])
        kinds: dict[str, set[str]] = {}
        for n in range(40):
            i = rnd.randrange(60)
            cls = rnd.choice(["passenger_car", "motorcycle", "motorcycle", "truck"])
            vehicles.append([q, "ps_vehicles", f"V{q.month}-{n}", n + 2, "v.csv", _pid(i), "张三",
                             f"湘A{n:05d}", "02", cls, "normal", False, date(2020, 1, 1),
                             _pid(i), "id_exact", 1.0])
            kinds.setdefault(_pid(i), set()).add(cls)
        motorcycle_only[q] = {p: COUNTIES[(int(p[11:17]) // 2) % 3]
                              for p, k in kinds.items() if k == {"motorcycle"}}
        insert_rows(con, "links.roster", ROSTER_COLUMNS, roster)
        insert_rows(con, "links.vehicles", VEHICLE_COLUMNS, vehicles)
        con.executemany("insert into staged.standards values (?, ?, 'urban', 800)",
                        [[q, c] for c in COUNTIES])
        con.executemany("insert into meta.source_loads (as_of, source, department, table_name, "
                        "status) values (?, ?, ?, ?, 'loaded')",
                        [[q, "mz_roster", "civil_affairs", "roster"],
                         [q, "mz_standards", "civil_affairs", "standards"],
                         [q, "ps_vehicles", "public_security", "vehicles"]])
    return motorcycle_only


@pytest.fixture()
def live(tmp_path):
    con = open_warehouse(tmp_path / "wh.duckdb")
    motorcycle_only = _build(con)
    for q in (Q1, Q2):
        evaluate(con, q, "default")
        update_lifecycle(con, q)
    yield con, motorcycle_only, tmp_path
    con.close()


def test_regional_pack_removes_motorcycle_only_owners_and_leaves_live_data(live):
    con, motorcycle_only, tmp = live
    assert all(motorcycle_only[q] for q in (Q1, Q2))
    before = snapshot(con, LIVE)
    scratch = tmp / "scratch"
    scratch.mkdir()
    result = backtest(con, "example_region", [Q2, Q1], scratch_dir=scratch)
    assert result.as_ofs == [Q1, Q2] and result.pack.startswith("example_region@")
    assert snapshot(con, LIVE) == before
    assert list(scratch.iterdir()) == []

    for q in (Q1, Q2):
        removed = {(r.rule_id, r.county_code): r.removed for r in result.rows if r.as_of == q}
        expected: dict[tuple[str, str], int] = {}
        for county in motorcycle_only[q].values():
            expected[("VEHICLE_OWNED", county)] = expected.get(("VEHICLE_OWNED", county), 0) + 1
        assert {k: v for k, v in removed.items() if v} == expected
        assert sum(r.added for r in result.rows if r.as_of == q) == 0
        live_vehicle = con.execute("select count(*) from warnings.warnings where as_of = ? and "
                                   "rule_id = 'VEHICLE_OWNED'", [q]).fetchone()[0]
        rows = [r for r in result.rows if r.as_of == q and r.rule_id == "VEHICLE_OWNED"]
        assert sum(r.baseline for r in rows) == live_vehicle
        assert sum(r.candidate for r in rows) == live_vehicle - len(motorcycle_only[q])
        assert sorted(result.removed_keys[q]) == sorted(f"VEHICLE_OWNED:{p}"
                                                        for p in motorcycle_only[q])
        assert "PROPERTY_RECENT_PURCHASE" in result.not_evaluated[q]

    # the same comparison against the default pack evaluated on the copy gives the same diff
    paired = backtest(con, "example_region", [Q1, Q2], baseline_pack="default",
                      scratch_dir=scratch)
    assert [(r.as_of, r.rule_id, r.county_code, r.added, r.removed) for r in paired.rows] == \
        [(r.as_of, r.rule_id, r.county_code, r.added, r.removed) for r in result.rows]
    assert snapshot(con, LIVE) == before

    # from a read-only connection, as the CLI opens the live warehouse
    con.close()
    ro = connect(tmp / "wh.duckdb", read_only=True)
    try:
        from_ro = backtest(ro, "example_region", [Q2], scratch_dir=scratch)
        assert from_ro.rows == [r for r in result.rows if r.as_of == Q2]
    finally:
        ro.close()
