"""safetynet: data_contracts (stage 2: raw."<source>" -> staged.<table> + meta.quarantine).

One contract YAML per canonical table sits in this folder; `stage_source` applies it to a source's
raw table, `validate_staged` re-checks the staged rows with Great Expectations, and
`write_quarantine_reports` tells each department which rows it must fix.
"""

from safetynet.data_contracts.contract import ColumnSpec, Contract, list_tables, load_contract
from safetynet.data_contracts.gx_suite import ContractResult, validate_staged
from safetynet.data_contracts.report import quarantine_summary, write_quarantine_reports
from safetynet.data_contracts.stage import StageResult, ensure_staged_tables, stage_source

__all__ = [
    "ColumnSpec",
    "Contract",
    "ContractResult",
    "StageResult",
    "ensure_staged_tables",
    "list_tables",
    "load_contract",
    "quarantine_summary",
    "stage_source",
    "validate_staged",
    "write_quarantine_reports",
]
