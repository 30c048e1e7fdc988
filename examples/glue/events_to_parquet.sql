-- The seed's Glue job "JSON -> Parquet partitioned by event_date", as a Sluice SQL job.
--
-- Arguments (DefaultArguments or StartJobRun Arguments):
--   --src  s3://<bucket>/raw/events/       newline-delimited JSON events
--   --dst  s3://<bucket>/curated/events/   Parquet, one folder per event_date
--
-- Like the PySpark original: read the raw JSON, derive event_date from the timestamp,
-- keep user_id, action, amount, event_date, and overwrite the curated location,
-- partitioned by event_date, Snappy-compressed.
COPY (
  SELECT user_id, action, amount, CAST("timestamp" AS DATE) AS event_date
  FROM read_json_auto('${src}')
) TO '${dst}' (FORMAT PARQUET, COMPRESSION SNAPPY, PARTITION_BY (event_date), OVERWRITE);
