"""One way to write dates and times on every page: ISO-like, 24-hour, no month names to misread across languages.

Django takes a locale's format module before settings.DATE_FORMAT, so the formats live here (FORMAT_MODULE_PATH);
input formats, which this module leaves out, stay Django's own for English. Templates write `{{ d|date }}`,
`{{ t|date:"DATETIME_FORMAT" }}` or `{{ t|time }}` (or the `day`/`day_time` filters of ris.templatetags.display,
which put the weekday before the date), never a format string of their own; audit and version lists add seconds in
the same order ("2026-12-06 14:05:09"). Machine values (URLs, date inputs) stay "Y-m-d" whatever this says.
"""

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "Y-m"
MONTH_DAY_FORMAT = "m-d"
FIRST_DAY_OF_WEEK = 1  # Monday
