-- The seed's Glue job "JSON -> Parquet partitioned by event_date", as a Sluice SQL job.
--
-- Arguments (DefaultArguments or StartJobRun Arguments):
--   --src  s3://<bucket>/raw/events/       newline-delimited JSON events
--             {"user_id": "u1", "action": "view", "amount": 1.0, "timestamp": "2025-08-01T10:15:00"}
--   --dst  s3://<bucket>/curated/events/   Parquet, one folder per event_date
--
-- Like the PySpark original: read the raw JSON, derive event_date from the timestamp,
-- keep user_id, action, amount, event_date, partitioned by event_date, Snappy-compressed.
-- Each run adds its own files to the partitions it writes (no OVERWRITE), so with the job
-- bookmark enabled (--job-bookmark-option job-bookmark-enable) every run appends just the
-- events that arrived since the last one, and a run with nothing new writes nothing.
COPY (
  SELECT user_id, action, amount, CAST("timestamp" AS DATE) AS event_date
  FROM read_json_auto('${src}')
) TO '${dst}' (FORMAT PARQUET, COMPRESSION SNAPPY, PARTITION_BY (event_date));
