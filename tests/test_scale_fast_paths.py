"""The fast paths added for volume give the same values as the general ones they skip:
Arrow float text vs Python text, guarded trim vs full trim, direct number cast vs cleaning."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

WS = " \t\r\n\u00a0\u3000\ufeff\u200b"


def test_arrow_float_text_equals_python_text_over_every_magnitude() -> None:
    from safetynet.connectors.text import arrow_text, texts

    rng = np.random.default_rng(3)
    values = np.concatenate([
        rng.uniform(0, 1e4, 50_000).round(2), 10 ** rng.uniform(-12, 25, 50_000),
        -(10 ** rng.uniform(-12, 25, 20_000)), rng.integers(0, 10**7, 5_000).astype(float),
        [0.0, -0.0, 1e-4, 9.99999e-5, 1e10, 9999999999.5, 1e15, 1e16, 4.30121198001011e17,
         math.nan, math.inf, -math.inf]])
    for array in (pa.array(values), pa.array([*values.tolist(), None]),
                  pa.array(values.astype(np.float32))):
        assert arrow_text(array).to_pylist() == texts(array.to_pylist())


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(WS) + list("0a张·x ")), max_size=8))
def test_guarded_trim_equals_full_trim(value: str) -> None:
    from safetynet.data_contracts.stage_sql import _WS, _clean

    assert _WS == WS
    got = duckdb.execute(f"select {_clean('$1')}", [value]).fetchone()[0]
    want = value.strip(WS) or None
    assert got == want


NUMBERS = ["12", "12.50", "-3", "+4", "1e5", "1,234.5", "１２３", "¥100", "100元", "1 000",
           "４，５００.００", "abc", "", "inf", "NaN", "0x10", "1_000", "  7 ", "3.5元", "－2"]


@pytest.mark.parametrize("text", NUMBERS)
def test_direct_number_cast_equals_cleaning_first(text: str) -> None:
    from safetynet.data_contracts.stage_sql import _FULLWIDTH, _NUM_JUNK, _number_sql, lit

    cleaned = (f"try_cast(regexp_replace(translate(?, {lit(_FULLWIDTH[0])}, "
               f"{lit(_FULLWIDTH[1])}), {lit(_NUM_JUNK)}, '', 'g') AS DOUBLE)")
    fast, slow = duckdb.execute(f"select {_number_sql('$1')}, {cleaned.replace('?', '$1')}",
                                [text]).fetchone()
    assert (fast == slow) or (fast != fast and slow != slow)  # equal, or both NaN


def test_parquet_read_by_duckdb_equals_the_arrow_batches(tmp_path) -> None:
    """The DuckDB path (plain column types) gives the raw text the Arrow path gives."""
    from datetime import date
    from decimal import Decimal

    import pyarrow.parquet as pq

    from safetynet.connectors.config import parse_source_config
    from safetynet.connectors.parquet_reader import ParquetReader, duckdb_text_exprs
    from safetynet.connectors.sink import RawSink
    from safetynet.warehouse import connect

    rng = np.random.default_rng(9)
    n = 3000
    floats = np.concatenate([rng.uniform(0, 1e4, n - 10).round(2),
                             [0.0, -0.0, 1e-5, 1e12, 4.30121198001011e17, math.nan, math.inf,
                              -2.5, 1e10, 123.0]])
    table = pa.table({
        "记录编号": pa.array([f"R{i}" for i in range(n)]),
        "整数": pa.array([i if i % 7 else None for i in range(n)], pa.int32()),
        "小数": pa.array(floats), "单精度": pa.array(floats.astype(np.float32)),
        "日期": pa.array([date(2020, 1, 1 + i % 28) for i in range(n)], pa.date32()),
        "金额": pa.array([Decimal("12.50")] * n, pa.decimal128(10, 2)),
        "是否": pa.array([i % 3 == 0 for i in range(n)]),
        "类别": pa.array(["低保", "", "特困"] * (n // 3)).dictionary_encode(),
        "空": pa.nulls(n),
    })
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, row_group_size=700)
    assert duckdb_text_exprs(pq.ParquetFile(path).schema_arrow) is not None
    source = parse_source_config({"name": "p", "department": "hrss", "table": "pension",
                                  "format": "parquet", "record_key": "记录编号",
                                  "columns": {"id_number": "整数"},
                                  "location": {"path": "p.parquet"}})
    con = connect(tmp_path / "w.duckdb")
    got = {}
    for way in ("_read_with_duckdb", "_read_batches"):
        reader = ParquetReader(source, path, "p.parquet")
        sink = RawSink(con, source, date(2026, 9, 30), reader.header)
        sink.set_file("p.parquet")
        if way == "_read_batches":
            reader._read_batches(sink, 1000)
        else:
            reader._read_with_duckdb(sink, duckdb_text_exprs(reader._file.schema_arrow))
        reader.close()
        assert sink.rows_loaded == n
        got[way] = con.execute('select * from raw."p" order by _row').fetchall()
    assert got["_read_with_duckdb"] == got["_read_batches"]
    assert got["_read_batches"][n - 6][2] == "430121198001011000"
