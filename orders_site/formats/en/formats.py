"""One timestamp format for every page staff read (admin lists, timelines, History): ISO-like, with
the time zone named, instead of the locale's "Nov. 27, 2026, 4:26 p.m." (FORMAT_MODULE_PATH)."""
DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = DATE_FORMAT
TIME_FORMAT = "H:i:s T"
