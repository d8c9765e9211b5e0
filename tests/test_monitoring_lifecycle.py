"""Warning lifecycle across quarters on real DuckDB files: states against set-arithmetic truth,
rule not evaluated, reruns, out-of-order quarters, reopening and dispositions, household chain."""

from __future__ import annotations

import json
from datetime import date

import pytest

from safetynet.monitoring.chain import household_chain
from safetynet.monitoring.feedback import record_disposition
from safetynet.monitoring.lifecycle import quarter_report, referral_plan, update_lifecycle
from tests.fixtures.monitoring.builders import (
    Q1,
    Q2,
    Q3,
    insert_warnings,
    link,
    load_two_quarters,
    open_warehouse,
    person_id,
    rule_status,
    snapshot,
    two_quarters,
    warning,
)

MONITORING_TABLES = ("warnings.history", "warnings.lifecycle", "warnings.audit",
                     "warnings.lifecycle_runs")


@pytest.fixture()
def con(tmp_path):
    con = open_warehouse(tmp_path / "wh.duckdb")
    yield con
    con.close()


def _report(con, as_of):
    return {(r.rule_id, r.county_code): {"new": r.new, "persisting": r.persisting,
                                         "reopened": r.reopened, "resolved": r.resolved}
            for r in quarter_report(con, as_of)}


def _lifecycle(con):
    return {k: (state, status, first, last, cycle) for k, state, status, first, last, cycle in
            con.execute("select warning_key, state, status, first_as_of, last_as_of, cycle_as_of "
                        "from warnings.lifecycle").fetchall()}


def test_two_quarters_match_set_truth(con):
    tq = two_quarters()
    load_two_quarters(con, tq)
    first = update_lifecycle(con, Q1)
    assert first.previous_as_of is None
    assert first.states["new"] == sum(len({tq.subject(r, i) for i in ids})
                                      for r, ids in tq.q1.items())
    assert first.states["persisting"] == first.states["resolved"] == 0

    second = update_lifecycle(con, Q2)
    assert second.previous_as_of == Q1
    truth = tq.truth_q2()
    assert _report(con, Q2) == truth
    for state in ("new", "persisting", "resolved"):
        assert second.states[state] == sum(c[state] for c in truth.values()) > 0

    # the rule whose source was missing in Q2 neither resolves nor renews its Q1 warnings
    skipped = tq.skipped_in_q2
    assert not any(rule == skipped for rule, _ in _report(con, Q2))
    states = con.execute("select distinct state, last_as_of from warnings.lifecycle "
                         "where rule_id = ?", [skipped]).fetchall()
    assert states == [("new", Q1)]
    # every warning has exactly one lifecycle row, all still open
    n_keys = con.execute("select count(distinct warning_key) from warnings.warnings").fetchone()[0]
    assert con.execute("select count(*), count(distinct warning_key), "
                       "count(*) filter (where status = 'open') from warnings.lifecycle"
                       ).fetchone() == (n_keys, n_keys, n_keys)
    # a resolved row carries the last known columns of the quarter it last fired
    row = con.execute("select h.county_code, h.due_date, h.fired_as_of, w.county_code, w.due_date "
                      "from warnings.history h join warnings.warnings w on w.warning_key = "
                      "h.warning_key and w.as_of = h.fired_as_of where h.state = 'resolved' "
                      "limit 1").fetchone()
    assert row[0] == row[3] and row[1] == row[4] and row[2] == Q1


def test_rerun_changes_nothing_and_older_quarter_after_newer_is_consistent(con, tmp_path):
    tq = two_quarters(seed=11)
    load_two_quarters(con, tq)
    update_lifecycle(con, Q1)
    update_lifecycle(con, Q2)
    before = snapshot(con, MONITORING_TABLES)
    again = update_lifecycle(con, Q2)
    assert again.status_changes == 0
    update_lifecycle(con, Q1)  # rerun of the older quarter after the newer one
    assert snapshot(con, MONITORING_TABLES) == before

    # another warehouse, quarters monitored in the opposite order: same history and states
    other = open_warehouse(tmp_path / "other.duckdb")
    load_two_quarters(other, tq)
    update_lifecycle(other, Q2)
    update_lifecycle(other, Q1)
    assert snapshot(other, ("warnings.history",)) == snapshot(con, ("warnings.history",))
    assert _lifecycle(other) == _lifecycle(con)
    other.close()


def test_corrected_older_quarter_rederives_newer_states(con):
    insert_warnings(con, [warning(Q1, "VEHICLE_OWNED", 1), warning(Q2, "VEHICLE_OWNED", 1)])
    update_lifecycle(con, Q1)
    update_lifecycle(con, Q2)
    key = f"VEHICLE_OWNED:{person_id(1)}"
    assert _report(con, Q2)[("VEHICLE_OWNED", "430102")]["persisting"] == 1
    # Q1 is re-run with corrected data: the warning no longer fires in Q1
    con.execute("delete from warnings.warnings where as_of = ?", [Q1])
    update_lifecycle(con, Q1)
    assert con.execute("select state from warnings.history where warning_key = ? and as_of = ?",
                       [key, Q2]).fetchone() == ("new",)
    assert _lifecycle(con)[key][2:] == (Q2, Q2, Q2)


def test_reopen_dispositions_and_referral_plan(con):
    a, b, c, d, e = 3, 4, 5, 6, 7
    # a: fires Q1, answered, gone Q2, back Q3 -> reopened and open again
    # b: fires every quarter, answered in Q1 -> persisting and stays closed
    # c: wrong person in Q1, back in Q3 with the same (rejected) link -> stays closed
    # d: wrong person in Q1, back in Q3 through another record -> open
    # e: unanswered in Q1, back in Q3; a late answer to its Q1 referral keeps the new cycle open
    rows = [warning(Q1, "VEHICLE_OWNED", i) for i in (a, b, c, d, e)]
    rows += [warning(Q2, "VEHICLE_OWNED", b)]
    rows += [warning(Q3, "VEHICLE_OWNED", i) for i in (a, b, c, e)]
    rows += [warning(Q3, "VEHICLE_OWNED", d, record_key="vehicles-other")]
    insert_warnings(con, rows)
    for q in (Q1, Q2, Q3):
        rule_status(con, q, {"VEHICLE_OWNED": "evaluated"})
    for i in (c, d):
        link(con, Q1, "ps_vehicles", "vehicles", f"vehicles-{person_id(i)}", person_id(i))
    update_lifecycle(con, Q1)
    key = {i: f"VEHICLE_OWNED:{person_id(i)}" for i in (a, b, c, d, e)}
    record_disposition(con, key[a], "confirmed", date(2026, 4, 20), "王五", actor="t")
    record_disposition(con, key[b], "not_confirmed", date(2026, 4, 21), "王五", "车已过户",
                       actor="t")
    for i in (c, d):
        record_disposition(con, key[i], "wrong_person", date(2026, 4, 22), "王五", actor="t")
    rejects = con.execute("select source, record_key, person_id, decision, origin from "
                          "links.review_decisions order by record_key").fetchall()
    assert rejects == sorted([("ps_vehicles", f"vehicles-{person_id(i)}", person_id(i), "reject",
                               "feedback_wrong_person") for i in (c, d)], key=lambda r: r[1])
    update_lifecycle(con, Q2)
    assert _lifecycle(con)[key[a]][:2] == ("resolved", "closed")
    assert referral_plan(con, Q2) == {key[b]: "skip"}
    audit_before = con.execute("select count(*) from warnings.audit").fetchone()[0]
    summary = update_lifecycle(con, Q3)
    assert summary.states["reopened"] == 4 and summary.states["persisting"] == 1

    lc = {k: v for k, v in con.execute(
        "select warning_key, (state, status, last_result, cycle_as_of, cycles) "
        "from warnings.lifecycle").fetchall()}
    assert lc[key[a]] == ("reopened", "open", None, Q3, 2)
    assert lc[key[b]] == ("persisting", "closed", "not_confirmed", Q1, 1)
    assert lc[key[c]] == ("reopened", "closed", "wrong_person", Q3, 2)
    assert lc[key[d]] == ("reopened", "open", None, Q3, 2)
    changes = con.execute("select warning_key, from_status, to_status, channel from warnings.audit "
                          "order by ts, warning_key").fetchall()[audit_before:]
    assert sorted(changes) == sorted([(key[a], "closed", "open", "lifecycle"),
                                      (key[d], "closed", "open", "lifecycle")])
    assert lc[key[e]] == ("reopened", "open", None, Q3, 2)
    assert referral_plan(con, Q3) == {key[a]: "reopened", key[b]: "skip", key[c]: "skip",
                                      key[d]: "reopened", key[e]: "reopened"}
    # a late answer to the Q1 referral of `e` is kept for Q1 and does not close the new cycle
    record_disposition(con, key[e], "confirmed", date(2026, 10, 9), "王五", actor="t", as_of=Q1)
    assert con.execute("select as_of from warnings.feedback where warning_key = ?",
                       [key[e]]).fetchall() == [(Q1,)]
    assert con.execute("select status, last_result from warnings.lifecycle where warning_key = ?",
                       [key[e]]).fetchone() == ("open", None)
    # the current cycle still takes its own answer
    record_disposition(con, key[e], "not_confirmed", date(2026, 10, 10), "王五", actor="t")
    assert con.execute("select status, last_result from warnings.lifecycle where warning_key = ?",
                       [key[e]]).fetchone() == ("closed", "not_confirmed")


def test_household_chain_in_time_order(con):
    hh_members = (30, 31)  # household H00010
    hh = "H00010"
    con.execute("""create table links.roster (as_of date, household_id varchar, id_number varchar,
        name varchar, relation varchar, category varchar, status varchar, region_code varchar,
        urban_rural varchar, household_size integer, person_id varchar, county_code varchar)""")
    for q in (Q1, Q2):
        for i, rel in zip(hh_members, ("head", "spouse"), strict=True):
            con.execute("insert into links.roster values (?, ?, ?, '张三', ?, 'dibao', 'active', "
                        "'430102001001', 'urban', 2, ?, '430102')",
                        [q, hh, person_id(i), rel, person_id(i)])
    con.execute("insert into links.roster values (?, 'H99999', 'X', '李四', 'head', 'dibao', "
                "'active', '430103001001', 'urban', 1, ?, '430103')", [Q1, person_id(99)])
    con.execute("""create table staged.vehicles (as_of date, _source varchar, _record_key varchar,
        _row bigint, _file varchar, id_number varchar, name varchar, plate_number varchar,
        vehicle_class varchar, status varchar, registration_date date)""")
    for q in (Q1, Q2):
        con.execute("insert into staged.vehicles values (?, 'ps_vehicles', 'V1', 2, 'v.csv', ?, "
                    "'张三', '湘A·12345', 'passenger_car', 'normal', '2025-05-01')",
                    [q, person_id(30)])
        link(con, q, "ps_vehicles", "vehicles", "V1", person_id(30))
    insert_warnings(con, [warning(Q1, "VEHICLE_OWNED", 30, record_key="V1"),
                          warning(Q2, "VEHICLE_OWNED", 30, record_key="V1"),
                          warning(Q2, "PROPERTY_MULTIPLE", 30),
                          warning(Q1, "VEHICLE_OWNED", 99)])
    update_lifecycle(con, Q1)
    update_lifecycle(con, Q2)
    record_disposition(con, f"VEHICLE_OWNED:{person_id(30)}", "not_confirmed",
                       date(2026, 7, 15), "赵六", "车辆已转让", actor="web_user")

    events = household_chain(con, hh)
    kinds = [e.kind for e in events]
    assert kinds.count("roster") == 4 and kinds.count("record") == 1
    assert kinds.count("warning") == 3 and kinds.count("feedback") == 1
    assert kinds.count("audit") == 3  # two created + one closed
    assert [e.at for e in events] == sorted(e.at for e in events)
    record = next(e for e in events if e.kind == "record")
    assert record.at.date() == date(2025, 5, 1) and record.ref == "V1"
    assert record.detail["first_seen"] == str(Q1) and "id_number" not in record.detail["fields"]
    assert {e.person_id for e in events if e.kind == "roster"} == {person_id(i)
                                                                   for i in hh_members}
    assert all(person_id(99) not in json.dumps(e.detail) and e.person_id != person_id(99)
               for e in events)
    states = [e.summary for e in events if e.kind == "warning"]
    assert states == ["名下有机动车（新增）", "家庭名下多套住房（新增）", "名下有机动车（持续）"]
    # the same chain through the DuckDB table macro the web workbench uses
    n = con.execute("select count(*) from warnings.household_chain(?)", [hh]).fetchone()[0]
    assert n == len(events)

