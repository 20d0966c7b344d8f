-- +goose Up
-- The append-only ledger of accounts' money (store.Ledger): every charge (with the completion it
-- pays for, or on its own), refund, settlement of arrears and top-up, with how it was paid. A line's
-- ref, when set, is unique: a charge, refund or settlement keyed by it happens once.
CREATE TABLE ledger (
    id            BIGSERIAL PRIMARY KEY,
    account_id    BIGINT NOT NULL,
    job_id        BIGINT NOT NULL DEFAULT 0,
    unit_id       BIGINT NOT NULL DEFAULT 0,
    kind          TEXT   NOT NULL,
    coupon_milli  BIGINT NOT NULL DEFAULT 0,
    balance_milli BIGINT NOT NULL DEFAULT 0,
    credit_milli  BIGINT NOT NULL DEFAULT 0,
    unpaid_milli  BIGINT NOT NULL DEFAULT 0,
    ref           TEXT UNIQUE,
    note          TEXT   NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL
);
CREATE INDEX ledger_account ON ledger (account_id, id);
CREATE INDEX ledger_job ON ledger (job_id, id) WHERE job_id <> 0;

-- A job's running totals of how its charges were paid, updated in the transaction that writes the
-- ledger lines, so that reading them costs no sum over the ledger.
ALTER TABLE jobs ADD COLUMN paid_coupon_milli BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN paid_balance_milli BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN paid_credit_milli BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN unpaid_milli BIGINT NOT NULL DEFAULT 0;

-- Render jobs kept their split in their result until now (credit counted with the balance).
UPDATE jobs SET
    paid_coupon_milli = COALESCE((result::jsonb ->> 'coupon_milli')::BIGINT, 0),
    paid_balance_milli = COALESCE((result::jsonb ->> 'balance_milli')::BIGINT, 0),
    unpaid_milli = COALESCE((result::jsonb ->> 'unpaid_milli')::BIGINT, 0)
WHERE kind = 'render' AND result IS NOT NULL AND jsonb_typeof(result::jsonb) = 'object';

-- +goose Down
ALTER TABLE jobs DROP COLUMN unpaid_milli, DROP COLUMN paid_credit_milli, DROP COLUMN paid_balance_milli,
    DROP COLUMN paid_coupon_milli;
DROP TABLE ledger;
