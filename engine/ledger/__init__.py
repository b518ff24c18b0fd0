"""The ledger: the contract between the engine and the flows (DESIGN.md), on SQLite (WAL) or PostgreSQL.

- `types`      exact Decimal (`ExactDecimal`) and aware-UTC (`UTCDateTime`) column types, `to_decimal`, ms helpers
- `models`     the tables: orders, fills, funding_payments, equity_marks, params, controls, alerts
- `venue_rows` venue userFills / userFunding / WS userFundings records → column values (errors name the field)
- `repo`       the functions callers use: idempotent `upsert_fills` / `upsert_funding`, orders, marks, params,
               controls, alerts, readers (`fills_between`, `funding_between`, `equity_curve`)
- `db`         `make_engine(url)`, `session_scope(engine)`, `upgrade(url)` / `init_db(engine)` (Alembic, shipped in
               `migrations/`), `current_revision`, `head_revision`
"""
