"""Settings for the RIS, read from the environment only.

With nothing set, the project runs on a laptop: DEBUG on, SQLite under var/, Celery tasks executed in-process.
Production sets DEBUG=0, SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis).
"""

import codecs
import ipaddress
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from ris.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("RIS_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", True)

_DEV_SECRET_KEY = "django-insecure-development-only-never-used-when-DEBUG-is-off"  # noqa: S105  (used only while DEBUG is on)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "ris",
    "clinical",  # before scheduling: its demo data comes before the demo schedule (models import either way)
    "scheduling",
    "worklist",
    "interfaces",
    "reporting",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files, before anything that needs a session
    "ris.headers.SecurityHeadersMiddleware",  # CSP, Permissions-Policy, no-store on all but static files
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ris.security.SessionIdleMiddleware",  # ends a session idle for SESSION_COOKIE_AGE; background requests no activity
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "ris.security.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "ris.access.AccessLogMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the locked-out page
]

ROOT_URLCONF = "ris.urls"
WSGI_APPLICATION = "ris.wsgi.application"
ASGI_APPLICATION = "ris.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ris.navigation.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'ris.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The statements the RIS prepares on the server are those of ris.statements: fixed texts whose values are
    # arrays of ids, for which one generic plan is right; without this PostgreSQL plans each execution again
    # (it prices a custom plan for one id below the generic plan's ten). Nothing else is prepared.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    if "plan_cache_mode" not in _options.get("options", ""):
        _options["options"] = f"{_options.get('options', '')} -c plan_cache_mode=force_generic_plan".strip()
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # BEGIN IMMEDIATE: writers queue for the lock instead of failing mid-transaction; one writer at a time is
    # what serialises identifier sequences and bookings on the embedded database.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 30}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------------------------
AUTH_USER_MODEL = "ris.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_AGE = env_int("RIS_SESSION_SECONDS", 15 * 60)
SESSION_SAVE_EVERY_REQUEST = True  # the session expires after inactivity, not after login
# Pages warn this long before the session lapses and offer to keep it (static/js/session.js).
RIS_SESSION_WARNING_SECONDS = env_int("RIS_SESSION_WARNING_SECONDS", 120)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out user before the password is checked
    "ris.security.AddressLockoutBackend",  # refuses an address that failed too often across accounts
    "django.contrib.auth.backends.ModelBackend",
]
# Failed sign-ins (pages and HTTP Basic): after RIS_LOGIN_FAILURE_LIMIT failures an account is locked (from that
# address) for
# RIS_LOGIN_LOCKOUT_MINUTES; a success resets the count; administrators unlock with `manage.py axes_reset_username`.
AXES_FAILURE_LIMIT = env_int("RIS_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("RIS_LOGIN_LOCKOUT_MINUTES", 15))
# Per account and address: a guesser is stopped without letting anyone lock a colleague out from elsewhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "ris.access.client_address"  # the same address the PHI access log records
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token"]
# Password spraying (a few guesses at many accounts): this many failures from one address, whichever usernames,
# lock that address for RIS_LOGIN_LOCKOUT_MINUTES (ris.security.AddressLockoutBackend, counted from axes' records).
RIS_LOGIN_ADDRESS_FAILURE_LIMIT = env_int("RIS_LOGIN_ADDRESS_FAILURE_LIMIT", 20)
# Second factor (TOTP, django-otp): anyone with a confirmed authenticator must give its code at sign-in; with
# RIS_OTP_REQUIRED these roles must set one up before they can use any page.
RIS_OTP_REQUIRED = env_bool("RIS_OTP_REQUIRED", False)
RIS_OTP_ROLES = ["radiologist", "admin"]
OTP_TOTP_ISSUER = env_str("RIS_OTP_ISSUER", "RIS")

# --- REST API (/api/) ----------------------------------------------------------------------------------------
# Signed-in browsers (session, with CSRF), machine clients with an API token (Authorization: Bearer ris_...,
# ris.models.ApiToken) or the password of a user without a second factor (HTTP Basic, over TLS in production).
# Token and Basic writes must be JSON (no cross-site form can send them). Every endpoint names the roles it admits
# (ris.drf.RolePermission) and a read-only token reads only.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [  # the first one names the challenge of a 401 (WWW-Authenticate: Basic)
        "ris.drf.PasswordAuthentication",
        "ris.drf.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "ris.drf.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "ris.drf.NewestFirst",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ris.drf.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "RIS API",
    "DESCRIPTION": "Patients, orders, exams, reports, charges and claims of the Radiology Information System. "
    "Every write goes through the same rules as the pages and the HL7 interface.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ModalityCodeEnum": "ris.models.catalog.Modality.Code",
        # Two choice sets share the field name "priority": an order's urgency and a coverage's rank.
        "OrderPriorityEnum": "scheduling.models.Priority",
        "CoveragePriorityEnum": "ris.models.patients.Coverage.Priority",
    },
}

# --- Internationalisation and time ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
# Dates and times as "2026-12-06 14:05" on every page (ris/formats/en/formats.py).
FORMAT_MODULE_PATH = ["ris.formats"]
TIME_ZONE = env_str("RIS_TIME_ZONE", "UTC")  # the department's local time; stored times are aware (UTC)
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
# WhiteNoise serves STATIC_ROOT (filled by `manage.py collectstatic`, which `make run` and the upgrade steps run)
# with gzip/brotli variants; while DEBUG is on it also finds files in the apps, as runserver would.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security when DEBUG is off (python manage.py check --deploy) --------------------------------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("RIS_BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# A monitor or load balancer probes /healthz over plain HTTP on the web port: answered, not redirected to HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^healthz(/ready)?$"]
# /healthz/ready runs its deep checks at most once per this many seconds (per web process; callers in between get the
# last answer), one run at a time, and answers one address at most RIS_HEALTH_READY_PER_MINUTE times a minute (429).
RIS_HEALTH_CACHE_SECONDS = env_int("RIS_HEALTH_CACHE_SECONDS", 5)
RIS_HEALTH_READY_PER_MINUTE = env_int("RIS_HEALTH_READY_PER_MINUTE", 30)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"  # URLs carry record numbers: never sent to another site
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# X-Forwarded-For is believed only from these proxies (addresses or networks, e.g. "127.0.0.1,::1,10.1.2.0/24"):
# the access log and the sign-in lockout take the caller's address from it. A caller reaching gunicorn directly is
# known by its socket address, whatever header it sends. Behind a TLS proxy (RIS_BEHIND_TLS_PROXY=1) the default
# is the proxy on the same host (loopback); otherwise none.
RIS_BEHIND_PROXY = env_bool("RIS_BEHIND_TLS_PROXY", False)
RIS_TRUSTED_PROXIES = env_list("RIS_TRUSTED_PROXIES", ["127.0.0.1", "::1"] if RIS_BEHIND_PROXY else [])
for _proxy in RIS_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"RIS_TRUSTED_PROXIES: {_proxy!r} is not an address or network") from None
X_FRAME_OPTIONS = "DENY"

# --- Celery ---------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or env_str("REDIS_URL")
if CELERY_BROKER_URL:
    CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", env_str("REDIS_URL") or CELERY_BROKER_URL)
    CELERY_TASK_ALWAYS_EAGER = False
else:
    # No broker: run every task in-process, at once, and let its exceptions reach the caller. (The host only
    # spares a kombu warning: the memory transport has none.)
    CELERY_BROKER_URL = "memory://localhost/"
    CELERY_RESULT_BACKEND = "cache+memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
# The safety net of the outbox: anything a missed doorbell or a stopped worker left is drained every minute
# (celery beat, started by `make run` with a broker).
# The other periodic work: stored HL7 messages a dead worker left unapplied, lapsed reading claims, and MPPS records
# past their retention.
CELERY_BEAT_SCHEDULE = {
    "interfaces-drain-outbox": {"task": "interfaces.drain_outbox", "schedule": 60.0},
    "interfaces-apply-pending": {"task": "interfaces.apply_pending", "schedule": 300.0},
    "reporting-release-lapsed-claims": {"task": "reporting.release_lapsed_claims", "schedule": 300.0},
    "worklist-purge-performed-steps": {"task": "worklist.purge_performed_steps", "schedule": 24 * 3600.0},
    "worklist-forward-mpps-due": {"task": "worklist.forward_mpps_due", "schedule": 60.0},
}
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# --- Logging (no PHI: log identifiers, never names or birth dates) --------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("RIS_LOG_LEVEL", "INFO")},
    # pynetdicom logs whole datasets (patient names, birth dates) at INFO and DEBUG: keep it to warnings.
    # django-axes logs each failed sign-in (username and address) at INFO; lockouts are warnings.
    "loggers": {"pynetdicom": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
if CELERY_TASK_ALWAYS_EAGER:
    # In-process tasks: a line per task that succeeded (a thousand while seeding the demo) says nothing a worker's
    # log would; failures are logged at ERROR (and raised to the caller) all the same.
    LOGGING["loggers"]["celery.app.trace"] = {"level": "WARNING"}

# --- The department -------------------------------------------------------------------------------------------
# Accession numbers: a Python format string with {seq} (a database sequence, never reused) and {date}
# (today, local time). DICOM AccessionNumber is SH: 16 characters at most.
RIS_ACCESSION_PATTERN = env_str("RIS_ACCESSION_PATTERN", "A{seq:09d}")
RIS_FILLER_ORDER_PATTERN = env_str("RIS_FILLER_ORDER_PATTERN", "F{seq:09d}")
# "exam": each exam (requested procedure) its own accession number, what most PACS and billing expect;
# "order": the exams of one order share one (IHE's one accession per imaging service request).
RIS_ACCESSION_PER = env_str("RIS_ACCESSION_PER", "exam").strip().lower()
if RIS_ACCESSION_PER not in ("exam", "order"):
    raise ImproperlyConfigured(f"RIS_ACCESSION_PER must be exam or order; got {RIS_ACCESSION_PER!r}")
RIS_MRN_PATTERN = env_str("RIS_MRN_PATTERN", "M{seq:08d}")
# Issuer of Patient ID (DICOM 0010,0021 / HL7 CX-4) for MRNs this RIS assigns or receives without one.
RIS_MRN_ISSUER = env_str("RIS_MRN_ISSUER", "RIS")
# Study Instance UIDs: "<root>.<unique>" under the organisation's registered root; empty means 2.25.<UUID>.
RIS_UID_ROOT = env_str("RIS_UID_ROOT", "")
# Free slots are offered on this grid from each room's opening time (and right after each booking).
RIS_SLOT_STEP_MINUTES = env_int("RIS_SLOT_STEP_MINUTES", 15)

# --- DICOM Modality Worklist and MPPS (worklist/) -----------------------------------------------------------
RIS_MWL_HOST = env_str("RIS_MWL_HOST", "127.0.0.1")
RIS_MWL_PORT = env_int("RIS_MWL_PORT", 11112)
RIS_MWL_AE_TITLE = env_str("RIS_MWL_AE_TITLE", "RIS_MWL")
RIS_MWL_MAX_ASSOCIATIONS = env_int("RIS_MWL_MAX_ASSOCIATIONS", 20)  # established associations at once
# A connection must have its association accepted (TLS handshake and A-ASSOCIATE-RQ read) within this time; until
# then it holds none of RIS_MWL_MAX_ASSOCIATIONS. One address may have this many connections open at once, and at
# most RIS_MWL_MAX_PENDING connections may be setting up at once.
RIS_MWL_SETUP_TIMEOUT_SECONDS = env_int("RIS_MWL_SETUP_TIMEOUT_SECONDS", 10)
RIS_MWL_MAX_PER_PEER = env_int("RIS_MWL_MAX_PER_PEER", 10)
RIS_MWL_MAX_PENDING = env_int("RIS_MWL_MAX_PENDING", 100)
RIS_MWL_MAX_MATCHES = env_int("RIS_MWL_MAX_MATCHES", 1000)
# Exam statuses a query without an SPS Status key sees (SCHEDULED, ARRIVED, IN_PROGRESS).
RIS_MWL_STATUSES = env_list("RIS_MWL_STATUSES", ["SCHEDULED", "ARRIVED"])
# Accept only calling AE titles of the rooms' stations and these extra ones: on unless DEBUG is on (the laptop demo,
# bound to loopback). AE titles are self-declared: mutual TLS (RIS_MWL_TLS_CA) is what authenticates a modality.
RIS_MWL_RESTRICT_CALLERS = env_bool("RIS_MWL_RESTRICT_CALLERS", not DEBUG)
RIS_MWL_EXTRA_AE_TITLES = env_list("RIS_MWL_EXTRA_AE_TITLES", [])
# A query without a Scheduled Station AE Title key sees only the calling station's own room.
RIS_MWL_STATION_SCOPED = env_bool("RIS_MWL_STATION_SCOPED", False)
RIS_MWL_TLS_CERT = env_str("RIS_MWL_TLS_CERT")
RIS_MWL_TLS_KEY = env_str("RIS_MWL_TLS_KEY")
RIS_MWL_TLS_CA = env_str("RIS_MWL_TLS_CA")  # set: callers must present a certificate signed by this CA
# MPPS records of exams finished this many days ago are purged (celery beat, daily); 0 keeps them forever.
RIS_MPPS_RETENTION_DAYS = env_int("RIS_MPPS_RETENTION_DAYS", 180)
# MPPS forwarding to the DICOM destinations (the PACS): a failed forward is tried again after base * 2**attempts
# seconds, up to this many attempts, then FAILED until an administrator resends it. Without a broker (no celery
# beat), the worklist SCP itself looks for forwards due every RIS_MPPS_FORWARD_POLL_SECONDS (0: never).
RIS_MPPS_FORWARD_RETRY_BASE_SECONDS = env_int("RIS_MPPS_FORWARD_RETRY_BASE_SECONDS", 10)
RIS_MPPS_FORWARD_MAX_ATTEMPTS = env_int("RIS_MPPS_FORWARD_MAX_ATTEMPTS", 8)
RIS_MPPS_FORWARD_POLL_SECONDS = env_int("RIS_MPPS_FORWARD_POLL_SECONDS", 30)
# The front-desk arrivals, the technologist list and the reading worklist fetch themselves again this often (seconds)
# while their tab is visible; 0 turns it off. A background request: it keeps no idle session alive.
RIS_WORKLIST_REFRESH_SECONDS = env_int("RIS_WORKLIST_REFRESH_SECONDS", 30)
# Every list page shows this many rows a page (ris/pagination.py); its row count stops this many rows past the
# page's start (a page then says "more than N") instead of counting every row of a large table.
RIS_PAGE_SIZE = env_int("RIS_PAGE_SIZE", 50)
RIS_PAGE_COUNT_LIMIT = env_int("RIS_PAGE_COUNT_LIMIT", 10_000)
# --- Reporting (reporting/) -------------------------------------------------------------------------------------
# A reading claim lapses after this much inactivity; another radiologist may then take the exam.
RIS_READING_CLAIM_MINUTES = env_int("RIS_READING_CLAIM_MINUTES", 15)
# The reading worklist shows only exams whose images the PACS announced (Instance Availability Notification) unless
# the radiologist asks for all; off: all exams, those without images marked.
RIS_READING_REQUIRE_IMAGES = env_bool("RIS_READING_REQUIRE_IMAGES", False)
# Opens the study in the PACS viewer; {study_uid} and {accession} are filled in. Empty: no viewer link.
RIS_VIEWER_URL_TEMPLATE = env_str("RIS_VIEWER_URL_TEMPLATE", "")
# The letterhead of report PDFs.
RIS_REPORT_LETTERHEAD = env_str("RIS_REPORT_LETTERHEAD", "Department of Radiology")

# --- Patient safety (clinical/) ------------------------------------------------------------------------------------
# Defaults from the ACR Manual on Contrast Media. Contrast (iodinated or gadolinium) needs a radiologist's decision
# when the latest eGFR is below RIS_EGFR_THRESHOLD (mL/min/1.73 m2), or when an eGFR is required (age at least
# RIS_EGFR_REQUIRED_FROM_AGE, or a renal or diabetes alert) and none is recent enough for the risk group.
RIS_EGFR_THRESHOLD = env_float("RIS_EGFR_THRESHOLD", 30.0)
RIS_EGFR_REQUIRED_FROM_AGE = env_int("RIS_EGFR_REQUIRED_FROM_AGE", 60)
RIS_EGFR_MAX_AGE_DAYS_OUTPATIENT = env_int("RIS_EGFR_MAX_AGE_DAYS_OUTPATIENT", 30)
RIS_EGFR_MAX_AGE_DAYS_INPATIENT = env_int("RIS_EGFR_MAX_AGE_DAYS_INPATIENT", 2)  # inpatients and emergencies
# LOINC codes read as eGFR (creatinine-based, with or without race, CKD-EPI 2021) and as serum creatinine.
RIS_EGFR_LOINC_CODES = env_list(
    "RIS_EGFR_LOINC_CODES", ["33914-3", "48642-3", "48643-1", "62238-1", "98979-8", "69405-9"]
)
RIS_CREATININE_LOINC_CODES = env_list("RIS_CREATININE_LOINC_CODES", ["2160-0", "38483-4", "14682-9"])
# Ionizing modalities for a patient who could be pregnant: female, aged between these (inclusive), needs a
# pregnancy status recorded within RIS_PREGNANCY_STATUS_MAX_AGE_HOURS before the start.
RIS_IONIZING_MODALITIES = env_list("RIS_IONIZING_MODALITIES", ["CT", "DX", "CR", "MG", "NM", "PT", "RF", "XA"])
RIS_PREGNANCY_AGE_MIN = env_int("RIS_PREGNANCY_AGE_MIN", 12)
RIS_PREGNANCY_AGE_MAX = env_int("RIS_PREGNANCY_AGE_MAX", 55)
RIS_PREGNANCY_STATUS_MAX_AGE_HOURS = env_int("RIS_PREGNANCY_STATUS_MAX_AGE_HOURS", 24)
# The MR table's weight limit (kg): a heavier patient needs clearance.
RIS_MR_TABLE_LIMIT_KG = env_float("RIS_MR_TABLE_LIMIT_KG", 200.0)
# The largest contrast volume (mL) a technologist can record for one exam (oral preparations included).
RIS_CONTRAST_VOLUME_MAX_ML = env_float("RIS_CONTRAST_VOLUME_MAX_ML", 2000.0)

# --- Billing (billing/) ---------------------------------------------------------------------------------------------
# What the department bills of an exam: the global service, or only the professional (26) or technical (TC) part.
RIS_BILLING_MODE = env_str("RIS_BILLING_MODE", "global")
if RIS_BILLING_MODE not in ("global", "professional", "technical"):
    raise ImproperlyConfigured("RIS_BILLING_MODE must be global, professional or technical.")
RIS_BILLING_DISCONTINUED_MODIFIER_53 = env_bool("RIS_BILLING_DISCONTINUED_MODIFIER_53", True)
RIS_BILLING_PLACE_OF_SERVICE = env_str("RIS_BILLING_PLACE_OF_SERVICE", "22")  # CMS code: 22 on-campus outpatient
RIS_BILLING_FACILITY = env_str("RIS_BILLING_FACILITY", "")  # Facility code of the billing provider; else the first
RIS_CLAIM_PATTERN = env_str("RIS_CLAIM_PATTERN", "C{seq:09d}")
RIS_BATCH_PATTERN = env_str("RIS_BATCH_PATTERN", "B{seq:07d}")
# The X12 envelope: who sends (ISA06/GS02) to which clearinghouse (ISA08/GS03), test (T) or production (P) usage.
RIS_X12_SENDER_ID = env_str("RIS_X12_SENDER_ID", "RISRADIOLOGY")
RIS_X12_RECEIVER_ID = env_str("RIS_X12_RECEIVER_ID", "CLEARINGHOUSE")
RIS_X12_RECEIVER_NAME = env_str("RIS_X12_RECEIVER_NAME", "CLEARINGHOUSE")
RIS_X12_USAGE = env_str("RIS_X12_USAGE", "T")
RIS_X12_CONTACT_NAME = env_str("RIS_X12_CONTACT_NAME", "BILLING OFFICE")
RIS_X12_CONTACT_PHONE = env_str("RIS_X12_CONTACT_PHONE", "5555550100")
# Export files hold PHI: kept under the var directory, never served as static files (downloads check the role).
MEDIA_ROOT = Path(env_str("RIS_MEDIA_ROOT", str(VAR_DIR / "files")))

# --- HL7 v2 over MLLP (interfaces/) ------------------------------------------------------------------------------
RIS_HL7_HOST = env_str("RIS_HL7_HOST", "127.0.0.1")
RIS_HL7_PORT = env_int("RIS_HL7_PORT", 2575)
RIS_HL7_MAX_FRAME_BYTES = env_int("RIS_HL7_MAX_FRAME_BYTES", 10 * 1024 * 1024)
RIS_HL7_MAX_CONNECTIONS = env_int("RIS_HL7_MAX_CONNECTIONS", 50)
RIS_HL7_IDLE_TIMEOUT_SECONDS = env_int("RIS_HL7_IDLE_TIMEOUT_SECONDS", 300)
# A frame must arrive whole within this time of its first byte (a new connection: of connecting, TLS handshake
# included), however the bytes trickle in. A connection takes one of RIS_HL7_MAX_CONNECTIONS only once its first
# frame is complete (or, with client certificates, its TLS handshake done); one address may have
# RIS_HL7_MAX_PER_PEER connections open; past RIS_HL7_MAX_PENDING waiting for a first frame, the oldest is closed.
RIS_HL7_FRAME_TIMEOUT_SECONDS = env_int("RIS_HL7_FRAME_TIMEOUT_SECONDS", 30)
RIS_HL7_MAX_PER_PEER = env_int("RIS_HL7_MAX_PER_PEER", 10)
RIS_HL7_MAX_PENDING = env_int("RIS_HL7_MAX_PENDING", 200)
# MSH-3/MSH-4 of what the RIS sends and acknowledges.
RIS_HL7_APPLICATION = env_str("RIS_HL7_APPLICATION", "RIS")
RIS_HL7_FACILITY = env_str("RIS_HL7_FACILITY", "RADIOLOGY")
# Open: any peer address and sending application (MSH-3) is accepted; only DEBUG (the laptop demo, on loopback) is
# open by default. Closed: a message is applied only when its MSH-3 (and MSH-4) and the peer's address match an
# enabled interfaces.Sender (managed in the admin) or a NAME@ADDRESS entry below; connections from other addresses are
# closed before anything is read. MSH-3 is self-declared: mutual TLS (RIS_HL7_TLS_CA) authenticates a sender.
RIS_HL7_OPEN = env_bool("RIS_HL7_OPEN", DEBUG)
# More senders, each MSH-3 or MSH-3@address (an IP address or network). In open mode a non-empty list also admits
# only these MSH-3 values; closed, only entries with an address admit.
RIS_HL7_ALLOWED_SENDERS = env_list("RIS_HL7_ALLOWED_SENDERS", [])
# MSH-18 values a site's CIS sends beyond HL7 table 0211, each NAME=Python codec: "CP1250=windows-1250,WIN1252=cp1252".
RIS_HL7_CHARSET_ALIASES: dict[str, str] = {}
for _alias in env_list("RIS_HL7_CHARSET_ALIASES", []):
    _name, _, _codec = (part.strip() for part in _alias.partition("="))
    try:  # the MSH segment and the delimiters are found in the bytes: the codec must read ASCII unchanged
        _ascii_safe = bool(_name) and b"MSH|^~\\&".decode(codecs.lookup(_codec).name) == "MSH|^~\\&"
    except (LookupError, ValueError):  # no such codec, or not one from bytes to text
        _ascii_safe = False
    if not _ascii_safe:
        raise ImproperlyConfigured(
            f"RIS_HL7_CHARSET_ALIASES: {_alias!r} is not NAME=codec with a Python text codec that reads ASCII"
            " unchanged (e.g. CP1250=windows-1250; utf-16 and unknown codecs are refused)"
        )
    RIS_HL7_CHARSET_ALIASES[_name.upper()] = _codec
RIS_HL7_TLS_CERT = env_str("RIS_HL7_TLS_CERT")
RIS_HL7_TLS_KEY = env_str("RIS_HL7_TLS_KEY")
RIS_HL7_TLS_CA = env_str("RIS_HL7_TLS_CA")  # set: senders must present a certificate signed by this CA
# Outbound delivery: wait this long for the peer's ACK; retry with exponential backoff; give up after N tries.
RIS_HL7_ACK_TIMEOUT_SECONDS = env_int("RIS_HL7_ACK_TIMEOUT_SECONDS", 30)
RIS_HL7_RETRY_BASE_SECONDS = env_int("RIS_HL7_RETRY_BASE_SECONDS", 10)
RIS_HL7_MAX_ATTEMPTS = env_int("RIS_HL7_MAX_ATTEMPTS", 8)

# Coding Scheme Designator of the department's procedure codes (the codes HL7 OBR-4 names).
RIS_PROCEDURE_CODING_SCHEME = env_str("RIS_PROCEDURE_CODING_SCHEME", "99RIS")
# ... and of its protocol catalog's codes (the worklist's Scheduled Protocol Code Sequence): a scheme of its own, so
# that a protocol code never reads as a procedure code of the same value.
RIS_PROTOCOL_CODING_SCHEME = env_str("RIS_PROTOCOL_CODING_SCHEME", "99RISPROT")
for _setting, _scheme in (
    ("RIS_PROCEDURE_CODING_SCHEME", RIS_PROCEDURE_CODING_SCHEME),
    ("RIS_PROTOCOL_CODING_SCHEME", RIS_PROTOCOL_CODING_SCHEME),
):  # Coding Scheme Designator (0008,0102) is SH: 1 to 16 characters, no backslash or control character
    if not (0 < len(_scheme) <= 16 and _scheme.isprintable() and "\\" not in _scheme):
        raise ImproperlyConfigured(f"{_setting} must be 1 to 16 printable characters, no backslash; got {_scheme!r}")
