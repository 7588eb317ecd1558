/* In-band DTMF detection and suppression on G.711 payloads.
 *
 * Why several analysis windows: the filter decides on each packet as it passes (no delay is
 * added to the fork), so a tone that starts late in a packet has to be caught from that
 * packet's tail alone. Each packet is analysed as a whole (50 Hz resolution at 160 samples,
 * enough to tell the 73 Hz-spaced rows apart) and over its last 80 and 40 samples.
 * A whole-packet detection silences the packet and arms a hangover that also removes the
 * tone's end in the next packets; an onset (tail-only) detection silences just that packet.
 * A tone starting in the last 40 samples of a packet is caught one packet later: at most 5 ms
 * of it passes, too short for any DTMF receiver (ITU-T Q.24 rejects tones under 20 ms).
 *
 * Acceptance, ITU-T Q.24 style with the thresholds of common PBX detectors:
 * - strongest row and strongest column each above an absolute level (-36 dBm0 per tone, so a
 *   -25 dBm0 digit with 8 dB of twist still counts);
 * - twist: row may exceed column by 8 dB (normal), column may exceed row by 4 dB (reverse);
 * - whole packets: the pair holds most of the energy, every other tone of each group is well
 *   below the strongest, no strong second harmonic (speech harmonics come in series);
 * - every window: a least-squares fit of exactly two sinusoids at the row and column
 *   frequencies (refined within +-2 % on whole packets, Q.24's tolerance being 1.5 %) leaves
 *   little energy unexplained. This is what rejects voiced speech whose harmonics happen to sit
 *   on a row and a column, and it is the only usable test over the short onset windows, where
 *   the DFT bins are too wide to separate the tones or measure twist.
 *
 * Cost: the eight tone energies of all three windows come from one pass of DFT sums over
 * three sub-blocks (head, [n-80, n-40), [n-40, n)) against a shared cos/sin table, in SIMD
 * vectors (GCC vector extensions, AVX when the CPU has it); packets too quiet for any window
 * stop after the sub-blocks' energy sums, and the refinement and the fit only run on the rare
 * packets that pass the cheap checks. A loud 160-sample packet costs ~2,500 instructions
 * (callgrind), most of it the G.711 decoding and the DFT.
 */
#include "dtmf.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "g711.h"

#define BLOCK_MAX 240 /* longest analysis block; longer payloads are cut into blocks of 160 */
#define HANGOVER_FRAMES 2
/* power of a sine at -36 dBm0 on the 16-bit scale of g711.c (0 dBm0 ~ 22300 peak) */
#define MIN_TONE_POWER 62456.0
#define TWIST_NORMAL 6.31  /* 8 dB: row above column */
#define TWIST_REVERSE 2.51 /* 4 dB: column above row */
#define NOMINAL 2          /* index of the nominal frequency in the tone tables */
#define OFFSETS 5
#define ONSET_SHORT 40
#define ONSET_LONG 80

/* cos and sin of 2 pi f (1 + o) / 8000 for the tones 697 770 852 941 | 1209 1336 1477 1633 Hz
 * and frequency offsets o = -2 %, -1 %, 0, +1 %, +2 % */
static const double tone_cos[8][5] = {
    {0.859516154, 0.856705366, 0.853868905, 0.851006856, 0.848119305},
    {0.829457009, 0.826063869, 0.822640518, 0.819187081, 0.815703683},
    {0.792574951, 0.788476874, 0.784343492, 0.780174989, 0.775971551},
    {0.748977694, 0.744060309, 0.739102284, 0.734103889, 0.729065396},
    {0.597388629, 0.589746907, 0.582052012, 0.574304637, 0.566505480},
    {0.516270278, 0.507255616, 0.498185105, 0.489059744, 0.479880537},
    {0.420470568, 0.409917462, 0.399309195, 0.388647194, 0.377932894},
    {0.308763018, 0.296539075, 0.284266353, 0.271946872, 0.259582658},
};
static const double tone_sin[8][5] = {
    {0.511108581, 0.515806084, 0.520488130, 0.525154579, 0.529805290},
    {0.558570560, 0.563576511, 0.568561851, 0.573526396, 0.578469966},
    {0.609774505, 0.615064402, 0.620326758, 0.625561337, 0.630767906},
    {0.662595212, 0.668112458, 0.673593211, 0.679037172, 0.684444044},
    {0.801951885, 0.807588129, 0.813151558, 0.818641670, 0.824057972},
    {0.856425712, 0.861795649, 0.867070701, 0.872250289, 0.877333842},
    {0.907306178, 0.912122620, 0.916816321, 0.921386650, 0.925832991},
    {0.951139001, 0.955020721, 0.958745347, 0.962312267, 0.965720893},
};


/* 2 cos(2 pi 2f / 8000): second harmonics of the eight tones */
static const float harmonic_coeff[8] = {0.916368425f,  0.706949688f,  0.460778853f,
                                        0.185088746f,  -0.644861824f, -1.007246403f,
                                        -1.362208668f, -1.676770561f};

typedef float v4f __attribute__((vector_size(16)));
typedef float v8f __attribute__((vector_size(32)));

/* cos/sin(2 pi f_k i / 8000) of the nominal tones (lanes: rows then columns), and G.711
 * decoding to float; built once */
static v8f dft_cos[BLOCK_MAX], dft_sin[BLOCK_MAX];
static float ulaw_linear[256], alaw_linear[256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void tables_init(void)
{
    for (int k = 0; k < 8; k++) {
        double c = 1.0, s = 0.0, cw = tone_cos[k][NOMINAL], sw = tone_sin[k][NOMINAL];
        for (int i = 0; i < BLOCK_MAX; i++) {
            dft_cos[i][k] = (float)c;
            dft_sin[i][k] = (float)s;
            double t = c * cw - s * sw;
            s = s * cw + c * sw;
            c = t;
        }
    }
    for (int i = 0; i < 256; i++) {
        ulaw_linear[i] = sc_ulaw_decode((uint8_t)i);
        alaw_linear[i] = sc_alaw_decode((uint8_t)i);
    }
}

/* The two loops every loud packet runs are built twice, for AVX and for baseline x86-64 (the
 * build targets the latter), and picked at load time by the CPU. The lanes do the same float
 * operations in the same order either way (no FMA contraction without an FMA target), so the
 * results are bit-identical across machines; AVX halves the instructions. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SC_SIMD_CLONES __attribute__((target_clones("avx", "default")))
#else
#define SC_SIMD_CLONES
#endif

SC_SIMD_CLONES static float energy_of(const float *x, size_t n)
{
    v8f acc = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f a;
        memcpy(&a, x + i, sizeof a);
        acc += a * a;
    }
    float e = 0.0f;
    for (; i < n; i++)
        e += x[i] * x[i];
    v4f lo = {acc[0], acc[1], acc[2], acc[3]}, hi = {acc[4], acc[5], acc[6], acc[7]};
    lo += hi;
    return e + (lo[0] + lo[1]) + (lo[2] + lo[3]);
}

/* DFT sums at the eight tones over x[from, to) (positions index the tables) */
struct partial {
    float re[8], im[8], energy;
};

SC_SIMD_CLONES static void dft_partial(const float *x, size_t from, size_t to, struct partial *p)
{
    /* two interleaved sets of accumulators (even and odd samples) halve the add-latency
     * chain; the loop takes four samples per turn to keep the bookkeeping off the sums */
    v8f re = {0}, im = {0}, reb = {0}, imb = {0};
    const float *xs = x + from;
    const v8f *c = dft_cos + from, *s = dft_sin + from;
    size_t n = to - from, i = 0;
    for (; i + 4 <= n; i += 4) {
        re += xs[i] * c[i];
        im += xs[i] * s[i];
        reb += xs[i + 1] * c[i + 1];
        imb += xs[i + 1] * s[i + 1];
        re += xs[i + 2] * c[i + 2];
        im += xs[i + 2] * s[i + 2];
        reb += xs[i + 3] * c[i + 3];
        imb += xs[i + 3] * s[i + 3];
    }
    for (; i + 2 <= n; i += 2) {
        re += xs[i] * c[i];
        im += xs[i] * s[i];
        reb += xs[i + 1] * c[i + 1];
        imb += xs[i + 1] * s[i + 1];
    }
    if (i < n) {
        re += xs[i] * c[i];
        im += xs[i] * s[i];
    }
    re += reb;
    im += imb;
    memcpy(p->re, &re, sizeof p->re);
    memcpy(p->im, &im, sizeof p->im);
}

/* one analysis window: x[0..n) with its tone energies (2 |X(f_k)|^2 / n) and total energy */
struct window {
    const float *x;
    size_t n;
    float e[8], total;
};

static void window_from(struct window *w, const float *x, size_t n, const struct partial *parts,
                        int count)
{
    w->x = x;
    w->n = n;
    w->total = 0.0f;
    for (int k = 0; k < 8; k++) {
        float re = 0.0f, im = 0.0f;
        for (int j = 0; j < count; j++) {
            re += parts[j].re[k];
            im += parts[j].im[k];
        }
        w->e[k] = 2.0f * (re * re + im * im) / (float)n;
    }
    for (int j = 0; j < count; j++)
        w->total += parts[j].energy;
}

/* Goertzel filters side by side over x[0..n): e[k] = energy at 2 cos(w_k) = c[k] */
#define BANK_MAX 10
static void goertzel_bank(const float *x, size_t n, const float *c, int nc, float *e)
{
    float s1[BANK_MAX] = {0}, s2[BANK_MAX] = {0};
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < nc; k++) {
            float s0 = x[i] + c[k] * s1[k] - s2[k];
            s2[k] = s1[k];
            s1[k] = s0;
        }
    }
    for (int k = 0; k < nc; k++)
        e[k] = 2.0f * (s1[k] * s1[k] + s2[k] * s2[k] - c[k] * s1[k] * s2[k]) / (float)n;
}

/* offsets (indexes into the tone tables) where tones r and c are strongest */
static void refine(const float *x, size_t n, int r, int c, int *ro, int *co)
{
    float coeffs[2 * OFFSETS], e[2 * OFFSETS];
    for (int o = 0; o < OFFSETS; o++) {
        coeffs[o] = (float)(2.0 * tone_cos[r][o]);
        coeffs[OFFSETS + o] = (float)(2.0 * tone_cos[c][o]);
    }
    goertzel_bank(x, n, coeffs, 2 * OFFSETS, e);
    *ro = *co = 0;
    for (int o = 1; o < OFFSETS; o++) {
        if (e[o] > e[*ro])
            *ro = o;
        if (e[OFFSETS + o] > e[OFFSETS + *co])
            *co = o;
    }
}

/* Least-squares fit of exactly two sinusoids (tone r at offset ro, tone c at offset co; any
 * amplitude and phase) to x[0..n): stores the energy each fitted tone carries over the window
 * and returns the fraction of the window's energy the pair leaves unexplained. */
static double two_tone_fit(const float *x, size_t n, int r, int ro, int c, int co, float total,
                           double *er, double *ec)
{
    double g[4][5] = {{0}};
    double cr = 1.0, sr = 0.0, cc = 1.0, sc = 0.0;
    double cwr = tone_cos[r][ro], swr = tone_sin[r][ro], cwc = tone_cos[c][co],
           swc = tone_sin[c][co];
    *er = *ec = 0.0;
    for (size_t i = 0; i < n; i++) {
        double b[4] = {cr, sr, cc, sc};
        for (int j = 0; j < 4; j++) {
            for (int k = j; k < 4; k++)
                g[j][k] += b[j] * b[k];
            g[j][4] += b[j] * x[i];
        }
        double t = cr * cwr - sr * swr;
        sr = sr * cwr + cr * swr;
        cr = t;
        t = cc * cwc - sc * swc;
        sc = sc * cwc + cc * swc;
        cc = t;
    }
    for (int j = 0; j < 4; j++)
        for (int k = 0; k < j; k++)
            g[j][k] = g[k][j];
    double v[4] = {g[0][4], g[1][4], g[2][4], g[3][4]};
    /* Gaussian elimination; the Gram matrix is symmetric positive definite */
    for (int p = 0; p < 4; p++) {
        if (g[p][p] <= 1e-9)
            return 1.0;
        for (int j = p + 1; j < 4; j++) {
            double f = g[j][p] / g[p][p];
            for (int k = p; k < 5; k++)
                g[j][k] -= f * g[p][k];
        }
    }
    double a[4];
    for (int p = 3; p >= 0; p--) {
        double sum = g[p][4];
        for (int k = p + 1; k < 4; k++)
            sum -= g[p][k] * a[k];
        a[p] = sum / g[p][p];
    }
    *er = (a[0] * a[0] + a[1] * a[1]) * (double)n / 2.0;
    *ec = (a[2] * a[2] + a[3] * a[3]) * (double)n / 2.0;
    double explained = a[0] * v[0] + a[1] * v[1] + a[2] * v[2] + a[3] * v[3];
    return (total - explained) / total;
}

/* the window holds at least the energy of two tones at the minimum level */
static bool loud_enough(float total, size_t n)
{
    return !(total < 2.0f * (float)(MIN_TONE_POWER * (double)n));
}

static int level_and_twist_ok(double er, double ec, size_t n)
{
    double floor_energy = MIN_TONE_POWER * (double)n;
    return er >= floor_energy && ec >= floor_energy && er <= ec * TWIST_NORMAL &&
           ec <= er * TWIST_REVERSE;
}

struct thresholds {
    int whole;          /* whole packet: level, twist, peak and harmonic checks on the DFT */
    float min_fraction; /* (row + column) / total energy */
    float rel_peak;     /* strongest / any other of its group */
    float harmonic;     /* tone / its second harmonic */
    double residual;    /* max energy fraction left after the two-tone least-squares fit */
};

static const struct thresholds STRICT = {1, 0.60f, 6.31f, 4.0f, 0.20};
/* the digit of the previous packet continuing (under speech or noise) */
static const struct thresholds CONTINUE = {1, 0.40f, 3.98f, 2.0f, 0.40};
/* over a few milliseconds the DFT fraction is only a coarse pre-filter for the fit */
static const struct thresholds ONSET = {0, 0.75f, 0.0f, 0.0f, 0.10};


/* Returns the digit index (row * 4 + column) found in the window, or -1; with want_digit >= 0
 * only that digit is looked for. Cheap checks come first: most packets are speech or silence. */
static int detect(const struct window *w, const struct thresholds *t, int want_digit)
{
    const float *e = w->e;
    if (!loud_enough(w->total, w->n))
        return -1;
    int r = 0, c = 4;
    for (int k = 1; k < 4; k++) {
        if (e[k] > e[r])
            r = k;
        if (e[4 + k] > e[c])
            c = 4 + k;
    }
    if (want_digit >= 0 && (r != want_digit / 4 || c != 4 + want_digit % 4))
        return -1;
    if (e[r] + e[c] < t->min_fraction * w->total)
        return -1;
    int ro = NOMINAL, co = NOMINAL;
    if (t->whole) {
        if (!level_and_twist_ok(e[r], e[c], w->n))
            return -1;
        for (int k = 0; k < 4; k++) {
            if ((k != r && e[k] * t->rel_peak > e[r]) ||
                (4 + k != c && e[4 + k] * t->rel_peak > e[c]))
                return -1;
        }
        float h[2], hc[2] = {harmonic_coeff[r], harmonic_coeff[c]};
        goertzel_bank(w->x, w->n, hc, 2, h);
        if (h[0] * t->harmonic > e[r] || h[1] * t->harmonic > e[c])
            return -1;
        refine(w->x, w->n, r, c, &ro, &co);
    }
    double er, ec;
    double residual = two_tone_fit(w->x, w->n, r, ro, c, co, w->total, &er, &ec);
    if (residual > t->residual || (!t->whole && !level_and_twist_ok(er, ec, w->n)))
        return -1;
    return r * 4 + (c - 4);
}

void sc_inband_dtmf_init(sc_inband_dtmf *st, int payload_type)
{
    pthread_once(&tables_once, tables_init);
    memset(st, 0, sizeof *st);
    st->payload_type = payload_type;
    st->last_digit = -1;
}

/* Analyses one block; *onset is set when only its tail holds a tone. */
static int analyse_block(sc_inband_dtmf *st, const float *x, size_t n, int *onset)
{
    /* sub-blocks: the whole block, or head, [n-80, n-40) and [n-40, n) for the onset windows */
    size_t bound[4] = {0, n, n, n};
    int count = 1;
    if (n >= 2 * ONSET_SHORT) {
        bound[1] = n >= 2 * ONSET_LONG ? n - ONSET_LONG : n - ONSET_SHORT;
        bound[2] = n - ONSET_SHORT;
        count = 3;
    }
    struct partial parts[3];
    float total = 0.0f;
    for (int j = 0; j < count; j++) {
        parts[j].energy = energy_of(x + bound[j], bound[j + 1] - bound[j]);
        total += parts[j].energy;
    }
    /* below two minimum-level tones over the shortest window: nothing to look at */
    if (total < (float)(2.0 * MIN_TONE_POWER * ONSET_SHORT))
        return -1;
    /* Each window's first test in detect() is on its energy alone: when no window can pass
     * it (speech pauses, line noise, quiet talkers) the DFT is skipped; the decisions stay
     * exactly those of the full analysis, the sums being computed as window_from() does. */
    bool tails = onset && count == 3;
    bool long_tail = tails && n >= 2 * ONSET_LONG;
    if (!loud_enough(total, n) && !(long_tail && loud_enough(parts[1].energy + parts[2].energy,
                                                             ONSET_LONG)) &&
        !(tails && loud_enough(parts[2].energy, ONSET_SHORT)))
        return -1;
    for (int j = 0; j < count; j++)
        dft_partial(x, bound[j], bound[j + 1], &parts[j]);
    struct window whole;
    window_from(&whole, x, n, parts, count);
    int d = detect(&whole, &STRICT, -1);
    if (d < 0 && st->last_digit >= 0)
        d = detect(&whole, &CONTINUE, st->last_digit);
    if (d >= 0 || !tails)
        return d;
    struct window tail;
    if (long_tail) {
        window_from(&tail, x + n - ONSET_LONG, ONSET_LONG, parts + 1, 2);
        *onset = detect(&tail, &ONSET, -1) >= 0;
    }
    if (!*onset) {
        window_from(&tail, x + n - ONSET_SHORT, ONSET_SHORT, parts + 2, 1);
        *onset = detect(&tail, &ONSET, -1) >= 0;
    }
    return -1;
}

int sc_inband_dtmf_filter(sc_inband_dtmf *st, uint8_t *payload, size_t len)
{
    int pcmu = st->payload_type == 0;
    if ((!pcmu && st->payload_type != 8) || len == 0)
        return 0;
    pthread_once(&tables_once, tables_init); /* also for a zeroed state that skipped init */

    const float *linear = pcmu ? ulaw_linear : alaw_linear;
    float x[BLOCK_MAX];
    int digit = -1, onset = 0;
    size_t off = 0;
    while (off < len) {
        /* blocks of 160; a remainder shorter than 80 joins the previous block */
        size_t n = len - off;
        if (n >= BLOCK_MAX)
            n = 160;
#pragma GCC unroll 8
        for (size_t i = 0; i < n; i++)
            x[i] = linear[payload[off + i]];
        off += n;
        /* onsets only matter at the end of the packet: earlier blocks are already past */
        int d = analyse_block(st, x, n, off == len && digit < 0 ? &onset : NULL);
        if (d >= 0)
            digit = d;
    }

    st->last_digit = digit;
    if (digit >= 0) {
        st->hangover = HANGOVER_FRAMES;
    } else if (!onset) {
        if (st->hangover == 0)
            return 0;
        st->hangover--;
    } /* an onset silences this packet only: a false one costs at most 20 ms of speech */
    memset(payload, pcmu ? SC_PCMU_SILENCE : SC_PCMA_SILENCE, len);
    st->frames_suppressed++;
    return 1;
}
