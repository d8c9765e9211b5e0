"""Stable error and quarantine reason codes (one vocabulary for every stage)."""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    """Why a row was quarantined. Codes are stable; messages are Chinese sentences."""

    MALFORMED_ROW = "malformed_row"
    ENCODING_ERROR = "encoding_error"
    MISSING_REQUIRED = "missing_required"
    MISSING_IDENTITY = "missing_identity"
    UNPARSEABLE_DATE = "unparseable_date"
    FUTURE_DATE = "future_date"
    DATE_OUT_OF_RANGE = "date_out_of_range"
    UNKNOWN_CODE = "unknown_code"
    NOT_A_NUMBER = "not_a_number"
    OUT_OF_RANGE = "out_of_range"
    DUPLICATE_RECORD_KEY = "duplicate_record_key"
    FIELD_TOO_LONG = "field_too_long"
    FORMULA_LIKE = "formula_like"
    BAD_PATTERN = "bad_pattern"


REASON_LABELS_ZH: dict[str, str] = {
    ReasonCode.MALFORMED_ROW: "行结构错误（列数不符或无法解析）",
    ReasonCode.ENCODING_ERROR: "字符编码错误",
    ReasonCode.MISSING_REQUIRED: "必填项为空",
    ReasonCode.MISSING_IDENTITY: "缺少身份证号和姓名，无法识别人员",
    ReasonCode.UNPARSEABLE_DATE: "日期无法识别",
    ReasonCode.FUTURE_DATE: "日期晚于合理范围（未来日期）",
    ReasonCode.DATE_OUT_OF_RANGE: "日期早于1900年",
    ReasonCode.UNKNOWN_CODE: "代码值不在约定取值范围内",
    ReasonCode.NOT_A_NUMBER: "数值字段含非数字内容",
    ReasonCode.OUT_OF_RANGE: "数值超出合理范围",
    ReasonCode.DUPLICATE_RECORD_KEY: "记录编号重复",
    ReasonCode.FIELD_TOO_LONG: "字段内容过长",
    ReasonCode.FORMULA_LIKE: "内容疑似表格公式（已拦截）",
    ReasonCode.BAD_PATTERN: "格式不符合约定",
}


class SafetynetError(Exception):
    """An error a data officer can act on: says which source, file, row and column."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.source, self.file, self.row, self.column = source, file, row, column
        where = ", ".join(
            f"{k}={v}"
            for k, v in (("source", source), ("file", file), ("row", row), ("column", column))
            if v is not None
        )
        super().__init__(f"{message} [{where}]" if where else message)


class ConfigError(SafetynetError):
    """A source config, rule pack or site setting is wrong."""


class SourceUnavailable(SafetynetError):
    """A source's file is missing/unreadable or its database cannot be reached."""
