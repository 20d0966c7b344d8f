-- +goose Up
-- The append-only ledger of accounts' money (store.Ledger): every charge (with the completion it
-- pays for, or on its own), refund, settlement of arrears and top-up, with how it was paid. A line's
-- ref, when set, is unique: a charge, refund or settlement keyed by it happens once.
CREATE TABLE ledger (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL,
    job_id        INTEGER NOT NULL DEFAULT 0,
    unit_id       INTEGER NOT NULL DEFAULT 0,
    kind          TEXT    NOT NULL,
    coupon_milli  INTEGER NOT NULL DEFAULT 0,
    balance_milli INTEGER NOT NULL DEFAULT 0,
    credit_milli  INTEGER NOT NULL DEFAULT 0,
    unpaid_milli  INTEGER NOT NULL DEFAULT 0,
    ref           TEXT UNIQUE,
    note          TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
);
CREATE INDEX ledger_account ON ledger (account_id, id);
CREATE INDEX ledger_job ON ledger (job_id, id) WHERE job_id <> 0;

-- A job's running totals of how its charges were paid, updated in the transaction that writes the
-- ledger lines, so that reading them costs no sum over the ledger.
ALTER TABLE jobs ADD COLUMN paid_coupon_milli INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN paid_balance_milli INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN paid_credit_milli INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN unpaid_milli INTEGER NOT NULL DEFAULT 0;

-- Render jobs kept their split in their result until now (credit counted with the balance).
UPDATE jobs SET
    paid_coupon_milli = COALESCE(json_extract(result, '$.coupon_milli'), 0),
    paid_balance_milli = COALESCE(json_extract(result, '$.balance_milli'), 0),
    unpaid_milli = COALESCE(json_extract(result, '$.unpaid_milli'), 0)
WHERE kind = 'render' AND result IS NOT NULL AND json_valid(result) AND json_type(result) = 'object';

-- +goose Down
ALTER TABLE jobs DROP COLUMN unpaid_milli;
ALTER TABLE jobs DROP COLUMN paid_credit_milli;
ALTER TABLE jobs DROP COLUMN paid_balance_milli;
ALTER TABLE jobs DROP COLUMN paid_coupon_milli;
DROP TABLE ledger;
