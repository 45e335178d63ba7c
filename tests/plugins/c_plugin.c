/* A plugin in plain C: proves the ABI needs no C++. Route /c-hook, kind "c-kind"; every event is
 * returned as one updated raw result. Built as a plugin for ABI 1.0 (minor 0, a 1.0-sized
 * descriptor): it proves a host speaking a later minor still serves 1.0 plugins unchanged. */
#include <ocean/plugin_abi.h>
#include <stdlib.h>
#include <string.h>

static const ocean_host_api* g_api;

static ocean_str str(const char* s) {
  ocean_str out = {s, strlen(s)};
  return out;
}

static void* create(void* ctx, const ocean_event* event) {
  (void)ctx;
  (void)event;
  return malloc(1);
}
static void destroy(void* p) {
  free(p);
}
static bool should_process(void* p, const ocean_event* e) {
  (void)p;
  return e->payload.len > 2;
}
static ocean_status kinds(void* p, const ocean_event* e, ocean_string_list* out) {
  (void)p;
  (void)e;
  g_api->string_list_add(out, str("c-kind"));
  return OCEAN_STATUS_OK;
}
static bool authenticate(void* p, const ocean_event* e) {
  (void)p;
  (void)e;
  return true;
}
static bool validate(void* p, const ocean_event* e) {
  (void)p;
  (void)e;
  return true;
}
static ocean_status handle(void* p, const ocean_event* e, const ocean_resource* r,
                           ocean_results* out) {
  (void)p;
  (void)r;
  g_api->log(g_api->host, OCEAN_LOG_INFO, str("c plugin handled an event"));
  g_api->metric_add(g_api->host, str("c_handled"), 1.0);
  g_api->results_add_updated(out, e->payload);
  return OCEAN_STATUS_OK;
}

/* A 1.0 vtable: the size ABI 1.0 had; the hooks 1.1 added are past it and never read. */
static const ocean_processor_vtable vtable = {OCEAN_PROCESSOR_VTABLE_SIZE_1_0,
                                              create,
                                              destroy,
                                              should_process,
                                              kinds,
                                              authenticate,
                                              validate,
                                              handle,
                                              NULL,
                                              NULL,
                                              NULL};

static const ocean_processor_factory factories[]
    __attribute__((unused)) = {{sizeof(ocean_processor_factory),
                                "CProcessor",
                                "/c-hook",
                                {sizeof(ocean_retry_policy), 3, 1.0, 30.0, 2.0},
                                &vtable,
                                NULL}};

#ifndef TEST_ABI_MAJOR
#define TEST_ABI_MAJOR OCEAN_ABI_VERSION_MAJOR
#endif
#ifndef TEST_ABI_MINOR
#define TEST_ABI_MINOR 0
#endif
#ifndef TEST_PLUGIN_NAME
#define TEST_PLUGIN_NAME "cplugin"
#endif

static const ocean_plugin_descriptor descriptor
    __attribute__((unused)) = {OCEAN_PLUGIN_DESCRIPTOR_SIZE_1_0,
                               TEST_ABI_MAJOR,
                               TEST_ABI_MINOR,
                               TEST_PLUGIN_NAME,
                               "1.0.0",
#ifdef TEST_MALFORMED
                               NULL,
                               1,
#else
                               factories,
                               1,
#endif
                               NULL,
                               NULL,
                               0,
                               NULL,
                               /* ABI 1.1's fields, past this 1.0 descriptor's struct_size: the host
                                  never reads them. */
                               NULL,
                               0};

#if defined(TEST_REFUSE)
/* A 1.1 entry that refuses the host and says why. */
OCEAN_EXPORT const ocean_plugin_descriptor* ocean_plugin_entry(const ocean_host_api* api) {
  if (api->struct_size >= offsetof(ocean_host_api, refuse) + sizeof(api->refuse) && api->refuse)
    api->refuse(api->host, str("needs libfrobnicate.so.3, which this machine lacks"));
  return NULL;
}
#elif !defined(TEST_NO_ENTRY)
OCEAN_EXPORT const ocean_plugin_descriptor* ocean_plugin_entry(const ocean_host_api* api) {
  g_api = api;
  return &descriptor;
}
#else
OCEAN_EXPORT int not_an_oceand_plugin(void) {
  return 42;
}
#endif
