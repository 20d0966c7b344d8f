-- +goose Up
-- A tenant's tasks filtered by status (the console's AI tasks page, an admin's task list with a
-- status) are found and counted in this index, not by reading every task of the tenant.
CREATE INDEX ai_tasks_tenant_status ON ai_tasks (tenant_id, status, id);

-- +goose Down
DROP INDEX ai_tasks_tenant_status;
