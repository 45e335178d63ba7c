// oceand C++ SDK: write a live-event processor the way Ocean's AbstractWebhookProcessor is written,
// on RapidJSON values, and register it with one macro. Header-only; link OpenSSL's libcrypto.
//
//   class MyProcessor : public ocean::WebhookProcessor { ... };
//   OCEAN_PLUGIN("my-plugin", "1.0.0") { plugin.add_processor<MyProcessor>("/webhook"); }
//
// Everything sits on plugin_abi.h. This header gathers the SDK's parts, each usable alone:
//   ocean/host.hpp       logging, integration config, counters, register_raw, RetryableError
//   ocean/http.hpp       HTTP through the host
//   ocean/crypto.hpp     signatures (HMAC-SHA256, Standard Webhooks), hex, base64
//   ocean/json.hpp       parse_json, to_json
//   ocean/processor.hpp  WebhookProcessor, PluginBuilder, OCEAN_PLUGIN
// and ocean/testing.hpp (not included here) is a fake host for a plugin's unit tests.
#pragma once

#include "ocean/crypto.hpp"
#include "ocean/host.hpp"
#include "ocean/http.hpp"
#include "ocean/json.hpp"
#include "ocean/processor.hpp"
