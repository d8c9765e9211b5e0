"""safetynet: monitoring across quarters (lifecycle, feedback, deadlines, chain, yield, back-test).

Entry points (each module is small; the CLI is `safetynet.monitoring.cli:app`):

- `lifecycle.update_lifecycle(con, as_of)`: warnings.history + warnings.lifecycle;
  `lifecycle.quarter_report`, `lifecycle.referral_plan`.
- `feedback.record_disposition(...)` (the one way to record a result),
  `feedback.intake_feedback_file(con, path, actor=...)` for returned XLSX/CSV files.
- `delivery.deliver(con, as_of, referrals_dir, config)`: drop folders or department databases.
- `deadlines.overdue(con, today, grace_working_days=...)`: overdue lists and escalation.
- `chain.household_chain(con, household_id)` and the `warnings.household_chain` table macro.
- `yield_stats.yield_stats` / `yield_by_direction`; `backtest.backtest(con, pack, as_ofs)`.
"""
