"""`safetynet monitor ...` commands on a real warehouse file: outputs, exit codes, masking."""

from __future__ import annotations

import csv
import io

import yaml
from python_calamine import CalamineWorkbook
from typer.testing import CliRunner

from safetynet.monitoring import cli
from safetynet.monitoring.cli import app
from safetynet.outputs import write_csv
from safetynet.privacy import mask_id
from tests.fixtures.monitoring.builders import (
    Q2,
    open_warehouse,
    person_id,
    referral_quarter,
)

runner = CliRunner()


def test_commands_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setattr(cli.console, "width", 200)  # no wrapping inside table cells
    wh = tmp_path / "wh.duckdb"
    con = open_warehouse(wh)
    out = tmp_path / "referrals"
    manifest = referral_quarter(con, out)
    n_warnings = con.execute("select count(*) from warnings.warnings").fetchone()[0]
    con.close()
    w = ["--warehouse", str(wh)]

    res = runner.invoke(app, ["lifecycle", "--as-of", str(Q2), "--out",
                              str(tmp_path / "q.xlsx"), *w])
    assert res.exit_code == 0, res.output
    report = CalamineWorkbook.from_path(str(tmp_path / "q.xlsx")).get_sheet_by_index(0).to_python()
    assert report[0][:4] == ["规则", "预警事项", "区县", "新增"]
    assert sum(int(r[3]) for r in report[1:]) == n_warnings  # all new in the first quarter

    config = tmp_path / "delivery.yaml"
    config.write_text(yaml.safe_dump({"destinations": {"*": {
        "drop_folder": str(tmp_path / "drop" / "{department}" / "{county_code}")}}}),
        encoding="utf-8")
    res = runner.invoke(app, ["deliver", "--as-of", str(Q2), "--config", str(config),
                              "--referrals", str(out), *w])
    assert res.exit_code == 0, res.output
    assert "新推送 " in res.output and (tmp_path / "drop" / "hrss" / "430102").is_dir()

    src = next(out / f.path for f in manifest.files
               if (f.department, f.county_code, f.format) == ("hrss", "430102", "csv"))
    rows = list(csv.reader(io.StringIO(src.read_bytes().decode("utf-8-sig"))))
    head, body = rows[0], rows[1:]
    body[0][head.index("核查结果")] = "属实"
    body[0][head.index("核查日期")] = "2026-10-12"
    body[0][head.index("核查人")] = "刘专员"
    body[1][head.index("核查结果")] = "也许"
    back = tmp_path / "back" / src.name
    write_csv(back, head, body)
    res = runner.invoke(app, ["feedback", str(back), "--actor", "hrss_user", *w])
    assert res.exit_code == 1 and "导入 1" in res.output and "拒收" in res.output

    res = runner.invoke(app, ["overdue", "--today", "2026-11-20", "--grace", "3", *w])
    assert res.exit_code == 0, res.output
    assert "逾期汇总" in res.output and "430102" in res.output

    res = runner.invoke(app, ["chain", "H00000", *w])
    assert res.exit_code == 0, res.output
    assert person_id(0) not in res.output
    assert "家庭名下多套住房" in res.output

    res = runner.invoke(app, ["backtest", "--pack", "example_region", *w])
    assert res.exit_code == 2 and "links.roster" in res.output  # no linked quarter stored here

    res = runner.invoke(app, ["yield", "--by-direction", *w])
    assert res.exit_code == 0 and "应保未保" in res.output
    assert mask_id(person_id(0)) not in res.output  # no person data in statistics
