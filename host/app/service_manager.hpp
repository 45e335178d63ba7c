#pragma once

#include <string_view>

namespace oceand {

// Tells the service manager how oceand stands (sd_notify(3)'s protocol, without libsystemd): a
// datagram such as "READY=1" to the socket named by $NOTIFY_SOCKET — a path, or "@name" for the
// abstract namespace. Does nothing when the variable is unset, as outside systemd's Type=notify.
// Never throws; a failure is logged once at debug.
void notify_service_manager(std::string_view state);

// "RELOADING=1" with the MONOTONIC_USEC systemd 253+ asks for (older ones ignore it).
void notify_reloading();

}  // namespace oceand
