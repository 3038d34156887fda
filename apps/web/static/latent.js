// The page's seeded latents: numpy's legacy `np.random.RandomState(seed).randn(n)`, which
// generate.py and NVIDIA's scripts use, so seed S here is seed S there.
//
// RandomState(seed) for an int seed is a Mersenne Twister MT19937 (Matsumoto & Nishimura 1998)
// seeded with the reference `init_genrand(seed)`; randn draws doubles with 53 random bits from
// two 32-bit outputs, `((a >>> 5) * 2^26 + (b >>> 6)) / 2^53`, and turns them into normals by
// the Marsaglia polar method, returning the second value of each pair first and caching the
// other (numpy's `legacy_gauss`). Everything is exact in double precision except Math.log,
// which may differ from C's log in the last bit; as float32 the latents are the same
// (tests/apps/test_web.py compares them with numpy for several seeds).
'use strict';

(function (root) {
  const N = 624;
  const M = 397;
  const MATRIX_A = 0x9908b0df;
  const UPPER = 0x80000000;
  const LOWER = 0x7fffffff;

  class MT19937 {
    constructor(seed) {
      this.mt = new Uint32Array(N);
      let s = seed >>> 0;
      for (let i = 0; i < N; i++) {
        this.mt[i] = s;
        // s = 1812433253 * (s ^ (s >>> 30)) + i + 1, modulo 2^32
        s = (Math.imul(1812433253, s ^ (s >>> 30)) + i + 1) >>> 0;
      }
      this.pos = N;
      this.gauss = null;  // the cached second normal of the polar method
    }

    reload() {
      const mt = this.mt;
      for (let i = 0; i < N; i++) {
        const y = (mt[i] & UPPER) | (mt[(i + 1) % N] & LOWER);
        mt[i] = mt[(i + M) % N] ^ (y >>> 1) ^ ((y & 1) ? MATRIX_A : 0);
      }
      this.pos = 0;
    }

    uint32() {
      if (this.pos >= N) this.reload();
      let y = this.mt[this.pos++];
      y ^= y >>> 11;
      y ^= (y << 7) & 0x9d2c5680;
      y ^= (y << 15) & 0xefc60000;
      y ^= y >>> 18;
      return y >>> 0;
    }

    double() {  // uniform in [0, 1) with 53 random bits
      const a = this.uint32() >>> 5;
      const b = this.uint32() >>> 6;
      return (a * 67108864.0 + b) / 9007199254740992.0;
    }

    normal() {
      if (this.gauss !== null) {
        const g = this.gauss;
        this.gauss = null;
        return g;
      }
      let x1, x2, r2;
      do {
        x1 = 2.0 * this.double() - 1.0;
        x2 = 2.0 * this.double() - 1.0;
        r2 = x1 * x1 + x2 * x2;
      } while (r2 >= 1.0 || r2 === 0.0);
      const f = Math.sqrt(-2.0 * Math.log(r2) / r2);
      this.gauss = f * x1;
      return f * x2;
    }
  }

  // n normals of RandomState(seed).randn(n), as a Float64Array; seed is an int in [0, 2^32).
  function randn(seed, n) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`seed must be an integer in [0, 2^32). Received: ${seed}`);
    }
    const rng = new MT19937(seed);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = rng.normal();
    return out;
  }

  root.StyleGANLatent = { MT19937, randn };
})(typeof self !== 'undefined' ? self : globalThis);
