-- +goose Up
-- The RPA lists of processes, schedules, assets and asset logs filter and page in SQL too: their
-- existing documents get the department as scope and the name they are matched by.
UPDATE records SET scope = COALESCE(json_extract(data, '$.orgCode'), '')
    WHERE kind IN ('rpa.process', 'rpa.schedule', 'rpa.asset', 'rpa.vlog') AND data IS NOT NULL;
UPDATE records SET name = COALESCE(json_extract(data, '$.procName'), '')
    WHERE kind = 'rpa.process' AND data IS NOT NULL;
UPDATE records SET name = COALESCE(json_extract(data, '$.schName'), '')
    WHERE kind = 'rpa.schedule' AND data IS NOT NULL;
UPDATE records SET name = COALESCE(json_extract(data, '$.assetName'), '')
    WHERE kind IN ('rpa.asset', 'rpa.vlog') AND data IS NOT NULL;

-- +goose Down
UPDATE records SET scope = '', name = '' WHERE kind IN ('rpa.process', 'rpa.schedule', 'rpa.asset', 'rpa.vlog');
