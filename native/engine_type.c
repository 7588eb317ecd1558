/* Python type _engine.Engine: the control surface of the engine core.
 *
 * Python names legs and forks by integer ids (looked up in the engine's id maps under the GIL),
 * so no Python call can reach freed memory. Each call takes the owning worker's lock for the
 * few instructions that change a rule or copy counters; it holds the GIL meanwhile, which is
 * safe because workers never touch Python. Typed wrappers live in src_client.media.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"
#include "engine_type.h"

typedef struct {
    PyObject_HEAD
    sc_engine *eng;
} EngineObject;

/* the names of sc_latch_mode's values for legs that latch, as in [media] latching */
static const char *const latch_names[] = {
    [SC_LATCH_OFF] = "off", [SC_LATCH_STRICT] = "strict", [SC_LATCH_LEARN] = "learn"};

static int parse_latching(const char *name, sc_latch_mode *out)
{
    for (int m = SC_LATCH_OFF; m <= SC_LATCH_LEARN; m++) {
        if (strcmp(name, latch_names[m]) == 0) {
            *out = (sc_latch_mode)m;
            return 0;
        }
    }
    PyErr_SetString(PyExc_ValueError, "latching must be 'strict', 'learn' or 'off'");
    return -1;
}

static int engine_init(EngineObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"address", "port_min", "port_max", "workers", "media_timeout",
                             "rtcp_interval", "latching", NULL};
    const char *address, *latching_name = "strict";
    int port_min, port_max, workers;
    double media_timeout, rtcp_interval;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "siiidd|$s", kwlist, &address, &port_min,
                                     &port_max, &workers, &media_timeout, &rtcp_interval,
                                     &latching_name))
        return -1;
    sc_latch_mode latching;
    if (parse_latching(latching_name, &latching) < 0)
        return -1;
    if (self->eng) {
        PyErr_SetString(PyExc_RuntimeError, "Engine already initialised");
        return -1;
    }
    sc_addr bind;
    if (sc_addr_parse(address, 1, &bind) < 0) {
        PyErr_SetString(PyExc_ValueError, "address must be a numeric IPv4 or IPv6 address");
        return -1;
    }
    if (port_min < 1024 || port_max > 65535 || port_max - port_min < 1) {
        PyErr_SetString(PyExc_ValueError, "port range must lie within 1024..65535");
        return -1;
    }
    if (workers < 1 || workers > 64) {
        PyErr_SetString(PyExc_ValueError, "workers must be 1..64");
        return -1;
    }
    if (!(media_timeout >= 0 && media_timeout < 1e6) || !(rtcp_interval >= 0.01 &&
                                                          rtcp_interval < 1e6)) {
        PyErr_SetString(PyExc_ValueError, "media_timeout or rtcp_interval out of range");
        return -1;
    }
    sc_engine *eng;
    if (sc_engine_new(&eng, &bind, port_min, port_max, workers,
                      (int64_t)(media_timeout * 1e9), (int64_t)(rtcp_interval * 1e9),
                      latching) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    self->eng = eng;
    return 0;
}

static void engine_shutdown(EngineObject *self)
{
    sc_engine *eng = self->eng;
    self->eng = NULL; /* first, so no other thread enters while we wait for the workers */
    if (eng) {
        Py_BEGIN_ALLOW_THREADS
        sc_engine_free(eng);
        Py_END_ALLOW_THREADS
    }
}

static void engine_dealloc(EngineObject *self)
{
    engine_shutdown(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static sc_engine *open_engine(EngineObject *self)
{
    if (!self->eng)
        PyErr_SetString(PyExc_ValueError, "engine is closed");
    return self->eng;
}

static sc_leg *get_leg(sc_engine *eng, unsigned long long id)
{
    sc_leg *leg = sc_idmap_get(&eng->legs, id);
    if (!leg)
        PyErr_Format(PyExc_KeyError, "no leg %llu", id);
    return leg;
}

static sc_fork *get_fork(sc_engine *eng, unsigned long long id)
{
    sc_fork *f = sc_idmap_get(&eng->forks, id);
    if (!f)
        PyErr_Format(PyExc_KeyError, "no fork %llu", id);
    return f;
}

static int parse_addr(const char *host, int port, sc_addr *out)
{
    if (sc_addr_parse(host, port, out) < 0) {
        PyErr_SetString(PyExc_ValueError, "expected a numeric IP address and a port 1..65535");
        return -1;
    }
    return 0;
}

static int check_family(const sc_engine *eng, const sc_addr *a)
{
    if (a->sa.sa_family != eng->bind.sa.sa_family) {
        PyErr_SetString(PyExc_ValueError, "address family differs from the engine's address");
        return -1;
    }
    return 0;
}

static PyObject *time_or_none(int64_t ns)
{
    if (!ns)
        Py_RETURN_NONE;
    return PyFloat_FromDouble((double)ns / 1e9);
}

static PyObject *engine_allocate_leg(EngineObject *self, PyObject *args)
{
    int mux, latching;
    if (!PyArg_ParseTuple(args, "pp", &mux, &latching))
        return NULL;
    sc_engine *eng = open_engine(self);
    if (!eng)
        return NULL;
    sc_leg *leg = sc_leg_new(eng, mux, latching);
    if (!leg)
        return PyErr_SetFromErrno(PyExc_OSError);
    return Py_BuildValue("(Kii)", (unsigned long long)leg->obj.id, leg->local_port,
                         mux ? leg->local_port : leg->local_port + 1);
}

static PyObject *engine_leg_set_remote(EngineObject *self, PyObject *args)
{
    unsigned long long id;
    const char *host;
    int rtp_port, rtcp_port;
    if (!PyArg_ParseTuple(args, "Ksii", &id, &host, &rtp_port, &rtcp_port))
        return NULL;
    sc_engine *eng = open_engine(self);
    sc_leg *leg = eng ? get_leg(eng, id) : NULL;
    sc_addr rtp, rtcp;
    if (!leg || parse_addr(host, rtp_port, &rtp) < 0 || parse_addr(host, rtcp_port, &rtcp) < 0)
        return NULL;
    if (check_family(eng, &rtp) < 0)
        return NULL;
    pthread_mutex_lock(&leg->worker->lock);
    sc_leg_set_remote(leg, &rtp, &rtcp);
    pthread_mutex_unlock(&leg->worker->lock);
    Py_RETURN_NONE;
}

static PyObject *addr_tuple(const sc_addr *a)
{
    if (!sc_addr_set(a))
        Py_RETURN_NONE;
    char host[INET6_ADDRSTRLEN];
    const void *raw = a->sa.sa_family == AF_INET6 ? (const void *)&a->v6.sin6_addr
                                                   : (const void *)&a->v4.sin_addr;
    inet_ntop(a->sa.sa_family, raw, host, sizeof host);
    return Py_BuildValue("(si)", host, sc_addr_port(a));
}

/* The leg (fork) named by a method's single id argument, or NULL with an exception set. */
static sc_leg *leg_arg(EngineObject *self, PyObject *args)
{
    unsigned long long id;
    if (!PyArg_ParseTuple(args, "K", &id))
        return NULL;
    sc_engine *eng = open_engine(self);
    return eng ? get_leg(eng, id) : NULL;
}

static sc_fork *fork_arg(EngineObject *self, PyObject *args)
{
    unsigned long long id;
    if (!PyArg_ParseTuple(args, "K", &id))
        return NULL;
    sc_engine *eng = open_engine(self);
    return eng ? get_fork(eng, id) : NULL;
}

static PyObject *engine_leg_stats(EngineObject *self, PyObject *args)
{
    sc_leg *leg = leg_arg(self, args);
    if (!leg)
        return NULL;
    pthread_mutex_lock(&leg->worker->lock);
    sc_leg_counters c = leg->c;
    sc_addr remote = leg->remote_rtp;
    bool latched = leg->rtp_latched, have_ssrc = leg->have_ssrc;
    uint32_t ssrc = leg->ssrc;
    pthread_mutex_unlock(&leg->worker->lock);
    PyObject *ssrc_obj = have_ssrc ? PyLong_FromUnsignedLong(ssrc) : Py_NewRef(Py_None);
    return Py_BuildValue("(KKKKKKKKKNNNO)", c.packets_in, c.bytes_in, c.rtcp_in, c.packets_out,
                         c.bytes_out, c.rtcp_out, c.malformed, c.foreign_source, c.no_remote,
                         time_or_none(c.last_packet_ns), ssrc_obj, addr_tuple(&remote),
                         latched ? Py_True : Py_False);
}

static PyObject *engine_leg_close(EngineObject *self, PyObject *args)
{
    sc_leg *leg = leg_arg(self, args);
    if (!leg)
        return NULL;
    sc_worker *w = leg->worker;
    pthread_mutex_lock(&w->lock);
    sc_leg_close(leg);
    pthread_mutex_unlock(&w->lock);
    sc_worker_wake(w); /* the worker frees it (and closes the ports) on its next iteration */
    Py_RETURN_NONE;
}

static PyObject *relay_call(EngineObject *self, PyObject *args, bool on)
{
    unsigned long long a_id, b_id;
    if (!PyArg_ParseTuple(args, "KK", &a_id, &b_id))
        return NULL;
    sc_engine *eng = open_engine(self);
    sc_leg *a = eng ? get_leg(eng, a_id) : NULL;
    sc_leg *b = a ? get_leg(eng, b_id) : NULL;
    if (!b)
        return NULL;
    if ((on ? sc_leg_relay(a, b) : sc_leg_unrelay(a, b)) < 0) {
        PyErr_SetString(PyExc_ValueError, on ? "legs are the same or already relayed elsewhere"
                                             : "legs are not relayed to each other");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *engine_relay(EngineObject *self, PyObject *args)
{
    return relay_call(self, args, true);
}

static PyObject *engine_unrelay(EngineObject *self, PyObject *args)
{
    return relay_call(self, args, false);
}

/* optional (host, port) -> address; Py_None leaves *set false */
static int opt_addr(PyObject *obj, sc_addr *out, bool *set)
{
    *set = false;
    if (obj == Py_None)
        return 0;
    const char *host;
    int port;
    if (!PyArg_ParseTuple(obj, "si", &host, &port))
        return -1;
    if (parse_addr(host, port, out) < 0)
        return -1;
    *set = true;
    return 0;
}

static int parse_drop(PyObject *seq, uint64_t drop[2])
{
    drop[0] = drop[1] = 0;
    PyObject *fast = PySequence_Fast(seq, "drop_payload_types must be a sequence");
    if (!fast)
        return -1;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast); i++) {
        long pt = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        if (pt == -1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
        if (pt < 0 || pt > 127) {
            Py_DECREF(fast);
            PyErr_SetString(PyExc_ValueError, "payload types are 0..127");
            return -1;
        }
        drop[pt >> 6] |= 1ULL << (pt & 63);
    }
    Py_DECREF(fast);
    return 0;
}

static sc_srtp *parse_srtp(PyObject *obj)
{
    const char *suite_name;
    Py_buffer key, salt;
    if (!PyArg_ParseTuple(obj, "sy*y*", &suite_name, &key, &salt))
        return NULL;
    sc_srtp_suite suite;
    sc_srtp *ctx = NULL;
    if (sc_srtp_suite_from_name(suite_name, &suite) < 0)
        PyErr_SetString(PyExc_ValueError, "unknown SRTP crypto suite");
    else if (!(ctx = sc_srtp_new(suite, key.buf, (size_t)key.len, salt.buf, (size_t)salt.len)))
        PyErr_SetString(PyExc_ValueError, "SRTP master key or salt has the wrong length");
    PyBuffer_Release(&key);
    PyBuffer_Release(&salt);
    return ctx;
}

/* Takes over a leg's sockets for a fork (the leg was allocated early, e.g. for an SDP offer). */
static int take_leg_sockets(sc_leg *donor, int *rtp_fd, int *rtcp_fd, int *port)
{
    sc_worker *w = donor->worker;
    pthread_mutex_lock(&w->lock);
    int r = -1;
    if (!donor->peer && !donor->forks[0] && !donor->forks[1] && !donor->player) {
        sc_worker_unwatch(w, &donor->rtp);
        sc_worker_unwatch(w, &donor->rtcp);
        *rtp_fd = donor->rtp.fd;
        *rtcp_fd = donor->rtcp.fd;
        *port = donor->local_port;
        donor->rtp.fd = donor->rtcp.fd = -1;
        sc_leg_close(donor);
        r = 0;
    }
    pthread_mutex_unlock(&w->lock);
    if (r < 0)
        PyErr_SetString(PyExc_ValueError, "local_leg must be a bare leg (no relay, forks, player)");
    return r;
}

static PyObject *engine_add_fork(EngineObject *self, PyObject *args)
{
    unsigned long long leg_id, local_leg_id;
    int outbound, inband;
    PyObject *dest, *rtcp_dest, *drop, *srtp_obj;
    long long ssrc;
    unsigned int clock_rate;
    const char *cname;
    if (!PyArg_ParseTuple(args, "KpOOOOpLKIz", &leg_id, &outbound, &dest, &rtcp_dest, &drop,
                          &srtp_obj, &inband, &ssrc, &local_leg_id, &clock_rate, &cname))
        return NULL;
    sc_engine *eng = open_engine(self);
    sc_leg *leg = eng ? get_leg(eng, leg_id) : NULL;
    if (!leg)
        return NULL;
    sc_fork_config cfg = {.direction = outbound ? SC_OUTBOUND : SC_INBOUND, .inband = inband,
                          .clock_rate = clock_rate, .cname = cname};
    bool rtcp_set;
    if (opt_addr(dest, &cfg.dest_rtp, &cfg.have_dest) < 0 ||
        opt_addr(rtcp_dest, &cfg.dest_rtcp, &rtcp_set) < 0 || parse_drop(drop, cfg.drop_pt) < 0)
        return NULL;
    if (cfg.have_dest && !rtcp_set) {
        cfg.dest_rtcp = cfg.dest_rtp; /* RFC 3550 §11: RTCP on the next (odd) port */
        int port = sc_addr_port(&cfg.dest_rtp) + 1;
        if (port > 65535) {
            PyErr_SetString(PyExc_ValueError, "no port above the RTP destination for RTCP");
            return NULL;
        }
        if (cfg.dest_rtcp.sa.sa_family == AF_INET6)
            cfg.dest_rtcp.v6.sin6_port = htons((uint16_t)port);
        else
            cfg.dest_rtcp.v4.sin_port = htons((uint16_t)port);
    }
    if ((cfg.have_dest && (check_family(eng, &cfg.dest_rtp) < 0 ||
                           check_family(eng, &cfg.dest_rtcp) < 0)))
        return NULL;
    if (ssrc < -1 || ssrc > 0xFFFFFFFFLL || clock_rate < 1000 || clock_rate > 192000 ||
        (cname && strlen(cname) > SC_RTCP_CNAME_MAX)) {
        PyErr_SetString(PyExc_ValueError, "ssrc, clock_rate or cname out of range");
        return NULL;
    }
    cfg.have_ssrc = ssrc >= 0;
    cfg.ssrc = (uint32_t)(ssrc >= 0 ? ssrc : 0);
    sc_leg *donor = NULL;
    if (local_leg_id) {
        donor = get_leg(eng, local_leg_id);
        if (!donor)
            return NULL;
        if (donor == leg) {
            PyErr_SetString(PyExc_ValueError, "local_leg must differ from the forked leg");
            return NULL;
        }
    }
    if (srtp_obj != Py_None && !(cfg.srtp = parse_srtp(srtp_obj)))
        return NULL;
    int rtp_fd, rtcp_fd, port;
    if (donor ? take_leg_sockets(donor, &rtp_fd, &rtcp_fd, &port) < 0
              : sc_open_pair(eng, false, &rtp_fd, &rtcp_fd, &port) < 0) {
        if (!donor)
            PyErr_SetFromErrno(PyExc_OSError);
        if (cfg.srtp)
            sc_srtp_free(cfg.srtp);
        return NULL;
    }
    sc_worker *w = leg->worker;
    pthread_mutex_lock(&w->lock);
    sc_fork *f = sc_fork_new(leg, &cfg, rtp_fd, rtcp_fd, port);
    pthread_mutex_unlock(&w->lock);
    if (!f) {
        close(rtp_fd);
        if (rtcp_fd >= 0)
            close(rtcp_fd);
        if (cfg.srtp)
            sc_srtp_free(cfg.srtp);
        return PyErr_NoMemory();
    }
    return Py_BuildValue("(Kki)", (unsigned long long)f->obj.id, (unsigned long)f->ssrc, port);
}

static PyObject *engine_fork_set_destination(EngineObject *self, PyObject *args)
{
    unsigned long long id;
    const char *host, *rtcp_host;
    int port, rtcp_port;
    if (!PyArg_ParseTuple(args, "Ksisi", &id, &host, &port, &rtcp_host, &rtcp_port))
        return NULL;
    sc_engine *eng = open_engine(self);
    sc_fork *f = eng ? get_fork(eng, id) : NULL;
    sc_addr rtp, rtcp;
    if (!f || parse_addr(host, port, &rtp) < 0 || parse_addr(rtcp_host, rtcp_port, &rtcp) < 0 ||
        check_family(eng, &rtp) < 0 || check_family(eng, &rtcp) < 0)
        return NULL;
    pthread_mutex_lock(&f->leg->worker->lock);
    sc_fork_set_destination(f, &rtp, &rtcp);
    pthread_mutex_unlock(&f->leg->worker->lock);
    Py_RETURN_NONE;
}

static PyObject *engine_fork_set_paused(EngineObject *self, PyObject *args)
{
    unsigned long long id;
    int paused;
    if (!PyArg_ParseTuple(args, "Kp", &id, &paused))
        return NULL;
    sc_engine *eng = open_engine(self);
    sc_fork *f = eng ? get_fork(eng, id) : NULL;
    if (!f)
        return NULL;
    pthread_mutex_lock(&f->leg->worker->lock);
    sc_fork_set_paused(f, paused);
    pthread_mutex_unlock(&f->leg->worker->lock);
    Py_RETURN_NONE;
}

static PyObject *engine_fork_stats(EngineObject *self, PyObject *args)
{
    sc_fork *f = fork_arg(self, args);
    if (!f)
        return NULL;
    pthread_mutex_lock(&f->leg->worker->lock);
    sc_fork_counters c = f->c;
    bool paused = f->paused;
    pthread_mutex_unlock(&f->leg->worker->lock);
    return Py_BuildValue("(KKKKKKKKNO)", c.packets_out, c.bytes_out, c.dtmf_dropped,
                         c.inband_dtmf_frames, c.srtp_errors, c.rtcp_out, c.rtcp_in, c.malformed,
                         time_or_none(c.last_packet_ns), paused ? Py_True : Py_False);
}

static PyObject *engine_fork_remove(EngineObject *self, PyObject *args)
{
    sc_fork *f = fork_arg(self, args);
    if (!f)
        return NULL;
    sc_worker *w = f->leg->worker;
    pthread_mutex_lock(&w->lock);
    sc_fork_remove(f);
    pthread_mutex_unlock(&w->lock);
    sc_worker_wake(w);
    Py_RETURN_NONE;
}

static PyObject *engine_play(EngineObject *self, PyObject *args)
{
    unsigned long long id;
    Py_buffer audio;
    int pt, loops;
    if (!PyArg_ParseTuple(args, "Ky*ii", &id, &audio, &pt, &loops))
        return NULL;
    sc_engine *eng = open_engine(self);
    sc_leg *leg = eng ? get_leg(eng, id) : NULL;
    PyObject *result = NULL;
    if (!leg) {
    } else if (audio.len == 0 || pt < 0 || pt > 127 || loops < 0) {
        PyErr_SetString(PyExc_ValueError, "empty audio, bad payload type or negative loop");
    } else {
        sc_worker *w = leg->worker;
        pthread_mutex_lock(&w->lock);
        sc_player *p = sc_player_new(leg, audio.buf, (size_t)audio.len, (uint8_t)pt, loops,
                                     sc_mono_ns());
        unsigned long long pid = p ? p->id : 0;
        pthread_mutex_unlock(&w->lock);
        if (p) {
            sc_worker_wake(w); /* its epoll timeout was computed without this player */
            result = PyLong_FromUnsignedLongLong(pid);
        } else {
            PyErr_NoMemory();
        }
    }
    PyBuffer_Release(&audio);
    return result;
}

/* the leg's player if it is still the one with this id, else NULL (finished or replaced) */
static PyObject *player_call(EngineObject *self, PyObject *args, bool stop)
{
    unsigned long long leg_id, player_id;
    if (!PyArg_ParseTuple(args, "KK", &leg_id, &player_id))
        return NULL;
    sc_engine *eng = open_engine(self);
    if (!eng)
        return NULL;
    sc_leg *leg = sc_idmap_get(&eng->legs, leg_id);
    if (!leg)
        Py_RETURN_FALSE;
    pthread_mutex_lock(&leg->worker->lock);
    bool active = leg->player && leg->player->id == player_id;
    if (active && stop)
        sc_player_stop(leg->player, false, 0);
    pthread_mutex_unlock(&leg->worker->lock);
    return PyBool_FromLong(active);
}

static PyObject *engine_player_stop(EngineObject *self, PyObject *args)
{
    return player_call(self, args, true);
}

static PyObject *engine_player_active(EngineObject *self, PyObject *args)
{
    return player_call(self, args, false);
}

static PyObject *engine_events_fd(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    sc_engine *eng = open_engine(self);
    return eng ? PyLong_FromLong(eng->events.fd) : NULL;
}

static PyObject *opt_id(uint64_t id)
{
    if (!id)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong(id);
}

static PyObject *engine_read_events(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    sc_engine *eng = open_engine(self);
    if (!eng)
        return NULL;
    sc_event batch[64];
    PyObject *list = PyList_New(0);
    uint32_t n;
    do {
        n = sc_events_drain(&eng->events, batch, 64);
        for (uint32_t i = 0; list && i < n; i++) {
            const sc_event *e = &batch[i];
            PyObject *item = Py_BuildValue("(iKNNkkd)", (int)e->kind,
                                           (unsigned long long)e->leg_id, opt_id(e->fork_id),
                                           opt_id(e->player_id), (unsigned long)e->ssrc,
                                           (unsigned long)e->old_ssrc, (double)e->time_ns / 1e9);
            if (!item || PyList_Append(list, item) < 0)
                Py_CLEAR(list);
            Py_XDECREF(item);
        }
    } while (list && n == 64);
    return list;
}

static PyObject *engine_stats(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    sc_engine *eng = open_engine(self);
    if (!eng)
        return NULL;
    uint64_t tx_dropped = 0, refused[SC_REFUSED_REASONS] = {0};
    for (int i = 0; i < eng->nworkers; i++) {
        sc_worker *w = &eng->workers[i];
        pthread_mutex_lock(&w->lock);
        tx_dropped += w->tx_dropped;
        for (int r = 0; r < SC_REFUSED_REASONS; r++)
            refused[r] += w->refused[r];
        pthread_mutex_unlock(&w->lock);
    }
    pthread_mutex_lock(&eng->events.lock);
    uint64_t events_dropped = eng->events.dropped;
    pthread_mutex_unlock(&eng->events.lock);
    /* refused in sc_refused_reason order: unsignalled, address, port, probation */
    return Py_BuildValue("(nnKKi(KKKK))", (Py_ssize_t)eng->legs.count,
                         (Py_ssize_t)eng->forks.count, (unsigned long long)tx_dropped,
                         (unsigned long long)events_dropped, eng->nworkers,
                         (unsigned long long)refused[SC_REFUSED_UNSIGNALLED],
                         (unsigned long long)refused[SC_REFUSED_ADDRESS],
                         (unsigned long long)refused[SC_REFUSED_PORT],
                         (unsigned long long)refused[SC_REFUSED_PROBATION]);
}

static PyObject *engine_close(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    engine_shutdown(self);
    Py_RETURN_NONE;
}

static PyMethodDef engine_methods[] = {
    {"allocate_leg", (PyCFunction)engine_allocate_leg, METH_VARARGS, NULL},
    {"leg_set_remote", (PyCFunction)engine_leg_set_remote, METH_VARARGS, NULL},
    {"leg_stats", (PyCFunction)engine_leg_stats, METH_VARARGS, NULL},
    {"leg_close", (PyCFunction)engine_leg_close, METH_VARARGS, NULL},
    {"relay", (PyCFunction)engine_relay, METH_VARARGS, NULL},
    {"unrelay", (PyCFunction)engine_unrelay, METH_VARARGS, NULL},
    {"add_fork", (PyCFunction)engine_add_fork, METH_VARARGS, NULL},
    {"fork_set_destination", (PyCFunction)engine_fork_set_destination, METH_VARARGS, NULL},
    {"fork_set_paused", (PyCFunction)engine_fork_set_paused, METH_VARARGS, NULL},
    {"fork_stats", (PyCFunction)engine_fork_stats, METH_VARARGS, NULL},
    {"fork_remove", (PyCFunction)engine_fork_remove, METH_VARARGS, NULL},
    {"play", (PyCFunction)engine_play, METH_VARARGS, NULL},
    {"player_stop", (PyCFunction)engine_player_stop, METH_VARARGS, NULL},
    {"player_active", (PyCFunction)engine_player_active, METH_VARARGS, NULL},
    {"events_fd", (PyCFunction)engine_events_fd, METH_NOARGS, NULL},
    {"read_events", (PyCFunction)engine_read_events, METH_NOARGS, NULL},
    {"stats", (PyCFunction)engine_stats, METH_NOARGS, NULL},
    {"close", (PyCFunction)engine_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "src_client._engine.Engine",
    .tp_basicsize = sizeof(EngineObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Media engine core; use src_client.media.Engine.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)engine_init,
    .tp_dealloc = (destructor)engine_dealloc,
    .tp_methods = engine_methods,
};

int sc_engine_register_type(PyObject *module)
{
    if (PyType_Ready(&EngineType) < 0)
        return -1;
    Py_INCREF(&EngineType);
    if (PyModule_AddObject(module, "Engine", (PyObject *)&EngineType) < 0) {
        Py_DECREF(&EngineType);
        return -1;
    }
    return 0;
}
