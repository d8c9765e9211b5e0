"""Chinese labels of link methods, ID qualities and comparison levels (reports, CLI, review files)."""

from __future__ import annotations

METHODS = {"id_exact": "身份证号一致", "id_legacy15": "15位旧身份证号转换后一致",
           "id_repaired": "身份证号修复（差一位或相邻两位颠倒）",
           "name_dob_region": "姓名+出生日期+地区（概率模型）", "none": "未关联"}
STATUSES = {"linked": "已关联", "review": "待人工复核", "unlinked": "未关联"}
COMPARISONS = {"prior": "先验", "id": "身份证号", "name": "姓名", "birth_date": "出生日期",
               "sex": "性别", "region": "区划", "total": "合计"}
ID_QUALITY = {
    "valid": "有效", "legacy15": "15位旧号", "check_failed": "校验位错误",
    "bad_date": "出生日期不存在", "scientific": "科学计数法（Excel）",
    "truncated_excel": "后三位被Excel截为000", "wrong_length": "位数错误", "missing": "缺失",
}
# What a department can do at the source, per kind of ID damage.
ID_FIX = {
    "legacy15": "更新为18位公民身份号码",
    "check_failed": "核对录入（多为输错一位或相邻两位颠倒）",
    "bad_date": "核对出生日期段（第7-14位）",
    "scientific": "导出前将身份证号列设为文本格式，避免Excel转为科学计数法",
    "truncated_excel": "导出前将身份证号列设为文本格式，避免Excel截去后三位",
    "wrong_length": "核对位数（应为18位）",
    "missing": "补录身份证号",
}
LEVELS = {
    "null": "无法比对", "in_id": "已含于身份证号", "exact": "一致", "legacy15": "旧号一致",
    "different_valid": "另一有效身份证号（非同一人）", "one_substitution": "差一位",
    "transposition": "相邻两位颠倒", "one_indel": "多一位或少一位",
    "prefix15": "前15位一致（Excel截断）", "two_edits": "差两位", "damaged": "号码受损，无矛盾",
    "damaged_different": "号码受损且不一致", "nodot": "去间隔号后一致", "pinyin": "同音",
    "fuzzy": "相近", "else": "不一致", "one_digit": "差一位数字",
    "month_day_swapped": "月日颠倒", "agree": "一致", "different": "不一致",
    "county": "同一区县", "legacy_recode": "区划调整前后对应", "prefecture": "同一地市",
    "not_in_roster": "不在名册中", "missing": "缺失", "unusable": "无法使用",
}
REASONS = {
    "valid_id_not_in_roster": "身份证号有效但不在名册中（另一人）",
    "rejected_by_review": "人工复核已否定", "below_threshold": "候选人员得分低于阈值",
    "another_valid_id": "身份证号有效且与候选人员不同（另一人）",
    "no_candidate": "未找到候选人员", "no_identity": "无身份证号且无姓名",
    "no_name": "无姓名，无法按姓名比对", "no_birth_date": "无出生日期，无法按姓名比对",
}
DECISIONS = {"accept": "接受", "reject": "拒绝"}
DECISION_WORDS = {"接受": "accept", "同意": "accept", "是": "accept", "accept": "accept",
                  "yes": "accept", "y": "accept", "拒绝": "reject", "否": "reject",
                  "不同意": "reject", "reject": "reject", "no": "reject", "n": "reject"}


def label(table: dict[str, str], key: str | None) -> str:
    """Chinese label of `key` (the key itself when unknown, '' for None)."""
    if key is None:
        return ""
    return table.get(str(key), str(key))
