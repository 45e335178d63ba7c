/*
 * oceand plugin ABI — the only thing the oceand host and a plugin share.
 *
 * Pure C (stdint/stddef/stdbool only), so a plugin can be written in any language that can export
 * a C function. The C++ wrapper in sdk.hpp is a convenience on top, never a requirement.
 *
 * Sections, in order: versioning and conventions, types, plugin hooks (implemented by the plugin,
 * called by the host), host callbacks (implemented by the host, called by the plugin), entry point.
 *
 * Rules that hold for every function below unless its comment says otherwise:
 *  - Bytes cross as ocean_str views. A view passed *into* a function is borrowed for the duration
 *    of that call only: copy what you keep. Views are not NUL-terminated.
 *  - Whoever allocates frees. The host never frees plugin memory and the plugin never frees host
 *    memory; when the host hands out memory that outlives a call (an HTTP response) it says which
 *    host callback releases it.
 *  - Nothing unwinds across the boundary: no C++ exception, longjmp or foreign unwinding.
 *  - Every table starts with `struct_size` and only ever grows at its end. A reader checks
 *    `struct_size` before touching a field that was added in a later minor version.
 *  - Versions: a different major is refused; a plugin built for a newer minor than the host is
 *    refused; an older minor is accepted (the host reads only the fields the plugin's table has).
 *    Fields and functions added after 1.0 say "since 1.x"; a plugin built for 1.0 never sees them.
 *  - Every function says THREAD (who calls it, and what may run beside it) and OWNERSHIP (who owns
 *    what crosses, and for how long).
 */
#ifndef OCEAN_PLUGIN_ABI_H
#define OCEAN_PLUGIN_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OCEAN_ABI_VERSION_MAJOR 1
#define OCEAN_ABI_VERSION_MINOR 1

/* The one symbol a plugin exports. */
#define OCEAN_PLUGIN_ENTRY_SYMBOL "ocean_plugin_entry"

#if defined(__GNUC__)
#define OCEAN_EXPORT __attribute__((visibility("default")))
#else
#define OCEAN_EXPORT
#endif

/* ================================================================================================
 * Types
 * ============================================================================================== */

/* A borrowed byte range. `ptr` may be NULL only when `len` is 0. */
typedef struct ocean_str {
  const char* ptr;
  size_t len;
} ocean_str;

/* One HTTP header. Names of incoming webhook headers are lower-cased by the host. */
typedef struct ocean_header {
  ocean_str name;
  ocean_str value;
} ocean_header;

typedef enum ocean_status {
  OCEAN_STATUS_OK = 0,
  /* Transient failure: the host schedules another attempt with the processor's backoff. */
  OCEAN_STATUS_RETRY = 1,
  /* Permanent failure: no further attempt; the event is dead-lettered with the error. */
  OCEAN_STATUS_FAILED = 2
} ocean_status;

typedef enum ocean_log_level {
  OCEAN_LOG_DEBUG = 0,
  OCEAN_LOG_INFO = 1,
  OCEAN_LOG_WARNING = 2,
  OCEAN_LOG_ERROR = 3
} ocean_log_level;

/* Since 1.1. The answer of a yes/no hook that can also say it could not answer. */
typedef enum ocean_answer {
  OCEAN_ANSWER_NO = 0,
  OCEAN_ANSWER_YES = 1,
  /* The hook failed (a bug, a dependency down): the host dead-letters the event with the message
   * the hook wrote, instead of taking it for a "no". */
  OCEAN_ANSWER_ERROR = 2
} ocean_answer;

/* Opaque host objects. Plugins only ever hold pointers to them and pass them back. */
typedef struct ocean_host ocean_host;               /* one per loaded plugin library */
typedef struct ocean_string_list ocean_string_list; /* host-owned output: a list of strings */
typedef struct ocean_string_out ocean_string_out;   /* host-owned output: one string */
typedef struct ocean_results ocean_results;         /* host-owned output of handle_event */
typedef struct ocean_http_response_handle ocean_http_response_handle;

/* One webhook event as the host stored it. Owned by the host; valid for the duration of the hook
 * call it is passed to. The same event (same `id`) may be passed to several hooks and, on retry,
 * several times; the pointer itself may differ between calls. */
typedef struct ocean_event {
  size_t struct_size;
  uint64_t id;                 /* unique per host database; stable across retries and restarts */
  ocean_str integration;       /* integration identifier, e.g. "github" */
  ocean_str route;             /* the registered path that received it, e.g. "/webhook" */
  ocean_str payload;           /* the payload as JSON text: always one JSON object */
  ocean_str raw_body;          /* the request body exactly as received (for signatures) */
  const ocean_header* headers; /* lower-cased names, in arrival order */
  size_t header_count;
  ocean_str delivery_id;  /* from the plugin's delivery_id_headers (see the descriptor) */
  int64_t received_at_ms; /* Unix epoch milliseconds */
  uint32_t attempt;       /* 1 for the first attempt of a task, 2 for its first retry, ... */
  /* A per-event slot the plugin may use to cache work (a parsed payload) between hook calls for
   * this event. Read and written only with the host callbacks event_cache_get/event_cache_set. */
  void* host_private;
} ocean_event;

/* One resource block of the integration's mapping (port-app-config `resources[]`). Owned by the
 * host; valid for the duration of the call. */
typedef struct ocean_resource {
  size_t struct_size;
  ocean_str kind;        /* e.g. "pull-request" */
  ocean_str config_json; /* the whole resource block (kind, selector, port, ...) as JSON text */
  uint32_t index;        /* position in resources[] */
  /* ---- since 1.1 ---- */
  /* The port-app-config's top-level settings, everything but `resources`, as one JSON object
   * (Ocean's `event.port_app_config`: GitHub's `repositoryType`, say). "{}" when it has none. */
  ocean_str app_config_json;
} ocean_resource;

/* Retry policy of a processor. The host waits before the n-th retry (n = 1, 2, ...)
 * min(initial_retry_delay_seconds * exponential_base_seconds^(n-1), max_retry_delay_seconds). */
typedef struct ocean_retry_policy {
  size_t struct_size;
  uint32_t max_retries;               /* Ocean's default: 3 */
  double initial_retry_delay_seconds; /* 1.0 */
  double max_retry_delay_seconds;     /* 30.0 */
  double exponential_base_seconds;    /* 2.0 */
} ocean_retry_policy;

/* An outgoing HTTP request made through the host. Owned by the caller; borrowed for the call. */
typedef struct ocean_http_request {
  size_t struct_size;
  ocean_str method; /* "GET", "POST", ... */
  ocean_str url;    /* absolute http:// or https:// URL */
  const ocean_header* headers;
  size_t header_count;
  ocean_str body;
  uint32_t timeout_ms; /* 0: the host default (10 s) */
  /* ---- since 1.1 ---- */
  /* The rate-limit budget this call spends; empty: none. Calls of this plugin with the same key
   * share one budget, learned from the answers' X-RateLimit-Remaining / X-RateLimit-Reset and
   * Retry-After: the host sends no call past it (docs/plugin-authoring.md, "Rate limits"). Name
   * the credential the API counts against (a token's fingerprint, an installation id), never the
   * secret itself: the key appears in logs and metrics. */
  ocean_str rate_limit_key;
} ocean_http_request;

/* The answer to an ocean_http_request. Filled by the host; everything it points to is owned by the
 * host and stays valid until the plugin passes `handle` to http_response_free. */
typedef struct ocean_http_response {
  size_t struct_size;
  int32_t status; /* HTTP status, or 0 when no response arrived (see `error`) */
  ocean_str body;
  const ocean_header* headers; /* lower-cased names */
  size_t header_count;
  ocean_str error; /* transport error (DNS, connect, TLS, timeout); empty when status != 0 */
  ocean_http_response_handle* handle;
} ocean_http_response;

/* Since 1.1. One key of the `config` block of an integration the plugin serves. The host checks
 * every integration against these when it is created (start, reload, --check): a missing required
 * key refuses it; a key the plugin does not declare is warned about once (an Ocean deployment
 * carries settings no live-event plugin reads). Plugin-owned, static, valid until unload. */
typedef struct ocean_config_key {
  size_t struct_size;
  const char* name;        /* NUL-terminated, e.g. "webhook_secret"; what config_get looks up */
  const char* description; /* NUL-terminated, one line, shown in errors; may be NULL */
  bool required;           /* an integration without it (or an alias) is refused */
  bool secret;             /* a credential: must be a string, and the host never prints it */
  /* Other names the same setting has, e.g. Ocean's "githubToken" (OCEAN__INTEGRATION__CONFIG__
   * GITHUB_TOKEN arrives as "github_token"); matched ignoring case and '_'. When `name` is unset
   * and an alias is set, config_get(name) answers the alias's value. May be NULL with 0. */
  const char* const* aliases;
  size_t alias_count;
} ocean_config_key;

/* What the host tells on_start about the integration instance being started. */
typedef struct ocean_instance_info {
  size_t struct_size;
  ocean_str integration; /* identifier */
  ocean_str base_url;    /* public URL of this host, for registering webhooks */
} ocean_instance_info;

/* ================================================================================================
 * Plugin hooks — implemented by the plugin, called by the host.
 *
 * THREAD, for every hook of the vtable unless it says otherwise: a host worker thread. The hooks of
 * one processor instance are never called concurrently with each other, except `cancel`, which may
 * be called from another thread while `handle_event` runs. Different processor instances run
 * concurrently, so state shared between instances must be synchronised by the plugin.
 * OWNERSHIP, likewise: `event`, `resource` and every view in them are the host's, borrowed for the
 * call; output handles (ocean_string_list, ocean_string_out, ocean_results) are the host's and
 * written only during the call, with the host callbacks.
 * ============================================================================================== */

/* A processor, instantiated once per (event, processor factory), as Ocean does. */
typedef struct ocean_processor_vtable {
  size_t struct_size;

  /* Creates the processor instance for `event`. Returns a plugin-owned pointer, or NULL on failure
   * (the event is then dead-lettered). The host passes it to every hook below and finally to
   * destroy. THREAD: the host's dispatcher thread. OWNERSHIP: the instance is the plugin's. */
  void* (*create)(void* factory_ctx, const ocean_event* event);

  /* Releases an instance made by create. Called exactly once per instance, never concurrently with
   * another hook of that instance. THREAD: any host thread (a worker, or the thread that finished
   * the event's last apply). */
  void (*destroy)(void* processor);

  /* Does this processor want this event at all? (Ocean: should_process_event.) THREAD: the host's
   * dispatcher thread, before the event is ordered. Since 1.1 a plugin may leave it NULL and set
   * should_process_event_checked instead. */
  bool (*should_process_event)(void* processor, const ocean_event* event);

  /* Appends to `kinds` (with the host callback string_list_add) the mapping kinds this event
   * concerns, e.g. "pull-request". */
  ocean_status (*get_matching_kinds)(void* processor, const ocean_event* event,
                                     ocean_string_list* kinds);

  /* Is the event really from the third party? Has the payload, the headers and the raw body. A
   * false answer drops the event for this processor (counted, never retried). Since 1.1 it may be
   * NULL when authenticate_checked is set. */
  bool (*authenticate)(void* processor, const ocean_event* event);

  /* Is the payload well formed for this processor? False drops it (counted, never retried). Since
   * 1.1 it may be NULL when validate_payload_checked is set. */
  bool (*validate_payload)(void* processor, const ocean_event* event);

  /* Does the work for one resource of the mapping: fetches fresh data and appends raw results with
   * results_add_updated / results_add_deleted (JSON objects as text). On RETRY or FAILED the
   * plugin should describe the cause with results_set_error; on RETRY it may ask for a minimum
   * delay with results_set_retry_after. */
  ocean_status (*handle_event)(void* processor, const ocean_event* event,
                               const ocean_resource* resource, ocean_results* results);

  /* Told about each failed attempt, with a description of the error. Optional (may be NULL).
   * OWNERSHIP: `error` is borrowed for the call. */
  void (*on_error)(void* processor, const ocean_event* event, ocean_str error);

  /* Asks a running handle_event to stop as soon as it can. Called from a different thread than
   * handle_event (the host's timeout watchdog, or shutdown). Must be thread-safe and must not
   * block. Optional (may be NULL). THREAD: the watchdog's or shutdown's, concurrently with
   * handle_event of the same instance. */
  void (*cancel)(void* processor);

  /* Writes with string_out_set the ordering key of `event`: events with the same key run one at a
   * time, in arrival order. Called on the host's dispatcher thread before routing, without an
   * instance (so it must be cheap and must not do I/O). Writing nothing means "no key": the event
   * is its own group. Optional (may be NULL). THREAD: the dispatcher thread. */
  void (*group_key)(void* factory_ctx, const ocean_event* event, ocean_string_out* key);

  /* ---- since 1.1 ---- */

  /* The yes/no hooks, able to say they could not answer: OCEAN_ANSWER_ERROR with a message written
   * to `error` (string_out_set) dead-letters the event with that message (a plugin bug is not a
   * forged webhook), and the delivery id still counts as delivered. When set, the host calls these
   * instead of the bool hooks above; each may be NULL (the bool hook is then required). THREAD
   * and OWNERSHIP as their bool forms; `error` is the host's, written only during the call. */
  ocean_answer (*should_process_event_checked)(void* processor, const ocean_event* event,
                                               ocean_string_out* error);
  ocean_answer (*authenticate_checked)(void* processor, const ocean_event* event,
                                       ocean_string_out* error);
  ocean_answer (*validate_payload_checked)(void* processor, const ocean_event* event,
                                           ocean_string_out* error);
} ocean_processor_vtable;

/* The size of a vtable built for ABI 1.0, which the host still accepts. */
#define OCEAN_PROCESSOR_VTABLE_SIZE_1_0 \
  offsetof(ocean_processor_vtable, should_process_event_checked)

/* A processor registered on a webhook route. All pointers are plugin-owned and must stay valid
 * until the library is unloaded (static storage is the usual choice). */
typedef struct ocean_processor_factory {
  size_t struct_size;
  const char* name;  /* NUL-terminated, e.g. "PullRequestWebhookProcessor" */
  const char* route; /* NUL-terminated path beginning with '/', e.g. "/webhook" */
  ocean_retry_policy retry;
  const ocean_processor_vtable* vtable;
  void* factory_ctx; /* passed to create and group_key */
} ocean_processor_factory;

/* A plain route handled synchronously, like Ocean's `ocean.router.post(...)`: no queue, no retry.
 * It answers by writing the response with string_out_set into `response_body` and returning the
 * HTTP status. THREAD: the host's HTTP threads, concurrently (one call per request). OWNERSHIP:
 * `integration`, `headers` and `body` are borrowed for the call; `response_body` is the host's. */
typedef struct ocean_direct_route {
  size_t struct_size;
  const char* method; /* NUL-terminated, e.g. "POST" */
  const char* path;   /* NUL-terminated, beginning with '/' */
  int32_t (*handle)(void* route_ctx, ocean_str integration, const ocean_header* headers,
                    size_t header_count, ocean_str body, ocean_string_out* response_body);
  void* route_ctx;
} ocean_direct_route;

/* What a plugin is. Returned by the entry function; plugin-owned, static, valid until unload. */
typedef struct ocean_plugin_descriptor {
  size_t struct_size;
  uint16_t abi_major;  /* OCEAN_ABI_VERSION_MAJOR the plugin was built with */
  uint16_t abi_minor;  /* OCEAN_ABI_VERSION_MINOR the plugin was built with */
  const char* name;    /* NUL-terminated; [a-z0-9_-]+ */
  const char* version; /* NUL-terminated, free form, e.g. "1.2.0" */
  const ocean_processor_factory* processors;
  size_t processor_count;
  /* Runs once per integration instance after the plugin is live, on a host thread that is not
   * serving HTTP, bounded by a timeout. Used to register webhooks with the third party. A failure
   * is logged and never fatal. Optional (may be NULL). THREAD: a thread of its own per integration,
   * concurrently with hooks. OWNERSHIP: `instance` is borrowed for the call. */
  ocean_status (*on_start)(const ocean_instance_info* instance);
  const ocean_direct_route* direct_routes;
  size_t direct_route_count;
  /* Called once before the library is unloaded, after the last hook of this plugin returned.
   * Optional (may be NULL). THREAD: whichever host thread released the library last. */
  void (*shutdown)(void);

  /* ---- since 1.1 ---- */

  /* The request headers (names in any case, e.g. "X-Gitlab-Event-UUID") that carry a delivery's
   * unique id, in the order the host looks for them. A delivery whose id was already accepted for
   * the same integration within queue.dedupe_window_seconds is answered 200 and not processed
   * again; the id reaches the hooks as ocean_event.delivery_id. NULL with a count of 0 (and every
   * plugin built for 1.0) gets the defaults: x-github-delivery, x-atlassian-webhook-identifier,
   * webhook-id. At most 16 names of at most 64 characters. Plugin-owned, static, valid until
   * unload. Read once, at load, on the loading thread. */
  const char* const* delivery_id_headers;
  size_t delivery_id_header_count;

  /* What says a request comes from this plugin's sender: a request header that is present (e.g.
   * "X-GitHub-Event"), or a field at the top of the JSON body (e.g. "webhookEvent" for Jira). Used
   * only for a webhook path that several integrations register, reached without an identifier
   * (/integration/webhook, where Ocean registers its hooks): the request goes to the one
   * integration whose plugin claims it, and is answered 404 when none or several do. At most 16
   * of each, names of at most 64 characters. Plugin-owned, static, valid until unload. Read once,
   * at load, on the loading thread. */
  const char* const* sender_headers;
  size_t sender_header_count;
  const char* const* sender_body_fields;
  size_t sender_body_field_count;

  /* The keys of the `config` block the plugin reads (see ocean_config_key). NULL with 0 declares
   * nothing: any block is accepted, as for 1.0 plugins. Read once, at load, on the loading
   * thread. */
  const ocean_config_key* config_keys;
  size_t config_key_count;

  /* Checks one integration's `config` block, after the host checked config_keys: OK accepts it;
   * FAILED, with the reason written to `error` (string_out_set), refuses it — start fails, a reload
   * keeps the running generation, --check reports it. config_get answers for `integration` during
   * the call. Must not do I/O that can hang (it runs before the integration serves). Optional.
   * THREAD: the thread building the generation (start, SIGHUP, --check). OWNERSHIP: `integration`
   * is borrowed for the call; `error` is the host's. */
  ocean_status (*validate_config)(ocean_str integration, ocean_string_out* error);
} ocean_plugin_descriptor;

/* The size of a descriptor built for ABI 1.0, which the host still accepts. */
#define OCEAN_PLUGIN_DESCRIPTOR_SIZE_1_0 offsetof(ocean_plugin_descriptor, delivery_id_headers)

/* ================================================================================================
 * Host callbacks — implemented by the host, called by the plugin.
 *
 * THREAD, unless a callback says otherwise: any thread, concurrently (every callback is
 * thread-safe). OWNERSHIP, likewise: what the plugin passes in is borrowed for the call and copied
 * if kept; `host` is the pointer the plugin received in ocean_host_api.host.
 * ============================================================================================== */

typedef struct ocean_host_api {
  size_t struct_size;
  uint16_t abi_major;
  uint16_t abi_minor;
  ocean_host* host;

  /* Writes one log line attributed to the plugin. Never blocks on I/O for long. */
  void (*log)(ocean_host* host, ocean_log_level level, ocean_str message);

  /* Looks up `key` (dot-separated, e.g. "webhook_secret") in the `config` block of integration
   * `integration`, which must be one this plugin serves: another plugin's integration answers
   * false (logged), so no plugin reads another's secrets. A declared key (ocean_config_key) also
   * answers its aliases' value. Returns false when absent. OWNERSHIP: on true, `*value` is a
   * host-owned view valid until the hook that made this call returns (or, outside any hook, until
   * the next reload). */
  bool (*config_get)(ocean_host* host, ocean_str integration, ocean_str key, ocean_str* value);

  /* Makes a blocking HTTP(S) request with TLS (system CAs) and a timeout. Returns OK when an HTTP
   * response arrived, whatever its status; FAILED on a transport error or timeout, with
   * `response->error` set. In both cases the plugin must call http_response_free once.
   * When called from handle_event, a 429, 5xx or timeout answer makes the attempt retryable
   * even if the plugin then returns FAILED. A call whose `rate_limit_key` budget is spent is not
   * sent when the wait would exceed 2 s: it answers OK with status 429, `Retry-After` (seconds
   * until the budget allows it) and `x-oceand-rate-budget: exhausted`, and an attempt that fails
   * on it runs again then without spending one of the processor's retries. */
  ocean_status (*http_request)(ocean_host* host, const ocean_http_request* request,
                               ocean_http_response* response);
  void (*http_response_free)(ocean_host* host, ocean_http_response_handle* handle);

  /* Adds `delta` to the plugin counter `name` ([a-z0-9_]+), exported on /metrics as
   * oceand_plugin_<name>_total{plugin="..."}. OWNERSHIP: `name` is borrowed for the call. */
  void (*metric_add)(ocean_host* host, ocean_str name, double delta);

  /* Output helpers: each copies the bytes it is given into host memory. THREAD: only during the
   * hook `out` was passed to (a handle kept past it is refused, logged). OWNERSHIP: `out` is the
   * host's; `value` is borrowed for the call. */
  void (*string_list_add)(ocean_string_list* out, ocean_str value);
  void (*string_out_set)(ocean_string_out* out, ocean_str value);
  void (*results_add_updated)(ocean_results* out, ocean_str json_object);
  void (*results_add_deleted)(ocean_results* out, ocean_str json_object);
  void (*results_set_error)(ocean_results* out, ocean_str message);
  void (*results_set_retry_after)(ocean_results* out, double seconds);

  /* The per-event cache slot (see ocean_event.host_private). set stores `data`; the host calls
   * `free_data(data)` exactly once when the event leaves memory (or when set replaces it). Call
   * them only from a hook that was passed `event` (group_key included), never from cancel: the
   * host guarantees those hooks never run concurrently for one event. OWNERSHIP: `data` is the
   * plugin's; the host only keeps the pointer and hands it to `free_data`. */
  void* (*event_cache_get)(const ocean_event* event);
  void (*event_cache_set)(const ocean_event* event, void* data, void (*free_data)(void* data));

  /* Maps raw items of `kind` with the integration's mapping and upserts (register_raw) or deletes
   * (unregister_raw) the resulting entities, as a processed event would. `items_json` is a JSON
   * array of objects. Blocks until applied. Returns FAILED with a log line on bad input, and for an
   * integration this plugin does not serve. THREAD: a direct route's handler or on_start (it
   * blocks). OWNERSHIP: everything is borrowed for the call. */
  ocean_status (*register_raw)(ocean_host* host, ocean_str integration, ocean_str kind,
                               ocean_str items_json);
  ocean_status (*unregister_raw)(ocean_host* host, ocean_str integration, ocean_str kind,
                                 ocean_str items_json);

  /* Since 1.1. Adds `delta` to the plugin counter `name` once per event: the first call for `name`
   * during `event` counts; later ones for the same event (a retry, another resource's
   * handle_event, another processor) do not. So a counter of handled events counts events, not
   * attempts. THREAD: a hook that was passed `event`; a stale event handle is refused (logged).
   * OWNERSHIP: nothing is kept. */
  void (*event_metric_add)(ocean_host* host, const ocean_event* event, ocean_str name,
                           double delta);

  /* Since 1.1. Says why the plugin refuses this host: call it from ocean_plugin_entry just before
   * returning NULL (a host too old for a feature, a missing system library). The host reports the
   * refusal with this reason (log, /admin/plugins, --check). THREAD: the entry's, during the entry
   * call only. OWNERSHIP: `reason` is borrowed for the call. */
  void (*refuse)(ocean_host* host, ocean_str reason);
} ocean_host_api;

/* ================================================================================================
 * Entry point
 * ============================================================================================== */

/* Exported by every plugin as `ocean_plugin_entry`. Called once per load, before any hook.
 * Returns the plugin's static descriptor, or NULL when the plugin cannot work with this host (for
 * example a host table smaller than the plugin needs) — since 1.1, having said why with
 * api->refuse when the table has it. THREAD: the host thread loading plugins (start, SIGHUP,
 * --check). OWNERSHIP: `api` (and the table it points to) stays valid until the library is
 * unloaded, and the plugin keeps the pointer; the descriptor is the plugin's, static. */
typedef const ocean_plugin_descriptor* (*ocean_plugin_entry_fn)(const ocean_host_api* api);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* OCEAN_PLUGIN_ABI_H */
