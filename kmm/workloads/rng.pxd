"""xoshiro256** seeded by splitmix64: the workloads' deterministic PRNG.

Emulator-only.  A stream is seeded from (seed, stream) -- e.g. the
workload's seed and a thread or chunk number -- so streams are independent
and reproducible without any Python object on the hot path."""

from libc.stdint cimport uint64_t


cdef struct rng_t:
    uint64_t s[4]


cdef inline uint64_t splitmix64(uint64_t *x) noexcept nogil:
    cdef uint64_t z
    x[0] += <uint64_t>0x9E3779B97F4A7C15ULL
    z = x[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline void rng_seed(rng_t *r, uint64_t seed, uint64_t stream) noexcept nogil:
    """Seed from (seed, stream) through splitmix64, as the xoshiro authors
    recommend; the state is never all zero."""
    cdef uint64_t x = seed ^ (stream * <uint64_t>0xD1B54A32D192ED03ULL)
    cdef int i
    for i in range(4):
        r.s[i] = splitmix64(&x)
    if (r.s[0] | r.s[1] | r.s[2] | r.s[3]) == 0:
        r.s[0] = 1


cdef inline uint64_t rotl(uint64_t x, int k) noexcept nogil:
    return (x << k) | (x >> (64 - k))


cdef inline uint64_t rng_next(rng_t *r) noexcept nogil:
    """xoshiro256** 1.0 (Blackman and Vigna)."""
    cdef uint64_t *s = r.s
    cdef uint64_t result = rotl(s[1] * 5, 7) * 9
    cdef uint64_t t = s[1] << 17
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 45)
    return result


cdef inline uint64_t rng_below(uint64_t bits32, uint64_t n) noexcept nogil:
    """Map 32 random bits to 0..n-1 by multiply-shift (Lemire); the bias,
    at most n / 2**32, is negligible for the sizes used here (n < 2**31)."""
    return ((bits32 & 0xFFFFFFFFULL) * n) >> 32
