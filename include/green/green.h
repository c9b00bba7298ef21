/*
 * libgreen — every layer in one include.
 *
 * Each header can also be included on its own; see README.md for what each
 * layer does.
 */
#ifndef GREEN_GREEN_H
#define GREEN_GREEN_H

#include <green/export.h>
#include <green/greenlet.h>
#include <green/hub.h>
#include <green/hub_hooks.h>
#include <green/bufio.h>
#include <green/dns.h>
#include <green/file.h>
#include <green/hub_threads.h>
#include <green/io.h>
#include <green/net.h>
#include <green/patch.h>
#include <green/group.h>
#include <green/pool.h>
#include <green/process.h>
#include <green/select.h>
#include <green/signal.h>
#include <green/sync.h>
#include <green/thread.h>
#include <green/timeout.h>
#include <green/tls.h>
#include <green/tpool.h>
#include <green/xqueue.h>

#endif /* GREEN_GREEN_H */
