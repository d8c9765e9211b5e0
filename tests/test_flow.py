"""The Prefect flow and its deployment file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import E2E, QUARTERS, ROOT, SAMPLE_SOURCES, read_csv


def test_prefect_yaml_schedules_the_flow_quarterly_in_beijing_time() -> None:
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    (dep,) = spec["deployments"]
    (schedule,) = dep["schedules"]
    assert schedule["cron"] == "0 2 1 1,4,7,10 *"
    assert schedule["timezone"] == "Asia/Shanghai"
    assert "as_of" not in dep["parameters"]  # the flow compares the quarter just ended
    path, func = dep["entrypoint"].split(":")
    assert (ROOT / path).exists()
    from prefect.flows import load_flow_from_entrypoint

    flow = load_flow_from_entrypoint(str(ROOT / dep["entrypoint"]))
    assert flow.name == "safetynet-quarterly-comparison"
    from prefect.client.schemas.schedules import CronSchedule

    cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    assert cron.timezone == "Asia/Shanghai"


def test_default_as_of_is_the_quarter_just_ended() -> None:
    from datetime import date

    from safetynet.settings import quarter_end_before

    assert quarter_end_before(date(2027, 1, 1)) == date(2026, 12, 31)
    assert quarter_end_before(date(2026, 10, 1)) == date(2026, 9, 30)
    assert quarter_end_before(date(2026, 7, 1)) == date(2026, 6, 30)
    assert quarter_end_before(date(2026, 5, 20)) == date(2026, 3, 31)


@pytest.mark.slow
def test_flow_under_prefect_harness_matches_the_in_process_run(
        e2e: E2E, sample_dir: Path, tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from safetynet.flows.quarterly import quarterly_comparison

    as_of = QUARTERS[1]
    warehouse = tmp_path / "flow.duckdb"
    with prefect_test_harness():
        summary = quarterly_comparison(
            as_of=as_of, sources_dir=str(SAMPLE_SOURCES), data_dir=str(sample_dir / "{as_of}"),
            warehouse=str(warehouse), out_dir=str(tmp_path / "out"))
    assert {s["status"] for s in summary["sources"]} == {"loaded"}
    from datetime import date

    from safetynet.exports import export_warnings
    from safetynet.warehouse import connect

    con = connect(warehouse, read_only=True)
    try:
        export_warnings(con, date.fromisoformat(as_of), tmp_path / "w.csv")
    finally:
        con.close()
    con = connect(e2e.warehouse, read_only=True)
    try:
        export_warnings(con, date.fromisoformat(as_of), tmp_path / "w_ref.csv")
    finally:
        con.close()
    assert read_csv(tmp_path / "w.csv") == read_csv(tmp_path / "w_ref.csv")
    assert (tmp_path / "out" / as_of / "summary.json").exists()
