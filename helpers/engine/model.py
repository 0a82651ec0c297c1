"""The linear mixed model of lme4: cross-products, profiled deviance, fit.

Notation of Bates, Mächler, Bolker and Walker (2015), *J. Stat. Softw.* 67(1),
section 3 (lme4's ``vignettes/lmer.Rnw``), "eq." below refers to that paper:

* ``y = Xβ + Zb + ε``, ``b = Λθ u``, ``u ~ N(0, σ² I)``, ``ε ~ N(0, σ² I)``;
* the sparse Cholesky factor ``L``: ``L L' = Λ'Z'ZΛ + I`` (eq. 18);
* ``cu = L⁻¹ Λ'Z'y`` and ``RZX = L⁻¹ Λ'Z'X`` (eq. 19-20);
* ``RX RX' = X'X - RZX'RZX`` and ``cβ = RX⁻¹ (X'y - RZX' cu)`` (eq. 21);
* ``β̂ = RX'⁻¹ cβ``, the penalized residual sum of squares
  ``r² = y'y - cu'cu - cβ'cβ`` (eq. 22-23);
* the profiled deviances (eq. 34 and 41)::

      ML:   -2 log L(θ) = log|L|² + n (1 + log(2π r² / n))
      REML: -2 log L(θ) = log|L|² + log|RX|² + (n - p) (1 + log(2π r² / (n - p)))

Everything depends on the data only through ``Z'Z``, ``Z'X``, ``Z'y``, ``X'X``,
``X'y`` and ``y'y``, computed once (:class:`CrossProducts`); an evaluation of the
deviance costs nothing that grows with the number of rows.

**The blocked factor.** Order the random effects as [A, B]: A holds the terms of
one grouping factor (the one with the most random effects), B everything else.
Every row belongs to exactly one level of A's factor, so ``Z_A'Z_A`` and the A
block of ``Λ'Z'ZΛ + I`` are block diagonal, one small ``p_A x p_A`` block per
level. ``L`` is then::

      L = [ L_A   0  ]     L_A = chol of each level's block (vectorised over levels)
          [ L_BA  L_B ]    L_BA = Λ_B' Z_B'Z_A Λ_A L_A'⁻¹   (scipy.sparse or dense)
                           L_B  = chol(Λ_B'Z_B'Z_BΛ_B + I - L_BA L_BA')   (dense)

so the only dense factorisation is of the size of B (the smaller factors), the
same elimination that lme4's sparse Cholesky does with a fill-reducing ordering.
"""
from __future__ import annotations

import copy
import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
import scipy.linalg as sla
import scipy.optimize as so
import scipy.sparse as sp
from scipy.linalg import blas, lapack
from threadpoolctl import ThreadpoolController

from ..core import formula as _formula
from .terms import ReTerm, build_terms, theta_layout

__all__ = ["lmer", "CrossProducts", "LmerModel", "ConvergenceWarning"]


class ConvergenceWarning(UserWarning):
    """The optimum failed lme4's gradient or Hessian check (the fit is still returned)."""


def _solve_lower(L, B, transpose=False):
    """L⁻¹ B (or L'⁻¹ B) for a lower-triangular L (BLAS trsm: scipy's solve_triangular
    has a large per-call overhead, and the fit calls this hundreds of times)."""
    B = np.asarray(B, dtype=float)
    if B.ndim == 1:
        return blas.dtrsm(1.0, L, B[:, None], lower=1, trans_a=int(transpose))[:, 0]
    return blas.dtrsm(1.0, L, B, lower=1, trans_a=int(transpose))


# ---------------------------------------------------------------------------
# Z, by blocks
# ---------------------------------------------------------------------------
def _z_sparse(terms: list[ReTerm], n: int) -> sp.csc_matrix:
    """The columns of Z for ``terms`` as a sparse n x q matrix, effect-major within each term
    (column ``j * levels + level``: all the intercepts, then all the slopes), so that the
    term's block of Λθ is ``T_i ⊗ I`` and products with it are small dense contractions."""
    rows, cols, vals, offset = [], [], [], 0
    for t in terms:
        for j in range(t.p):
            rows.append(np.arange(n))
            cols.append(offset + j * t.n_levels + t.codes)
            vals.append(t.X[:, j])
        offset += t.q
    if not rows:
        return sp.csc_matrix((n, 0))
    return sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n, offset))


def _block_diagonal_pattern(n_blocks: int, k: int) -> sp.csr_matrix:
    """A sparse block-diagonal matrix of ``n_blocks`` dense k x k blocks; its ``data`` is
    the blocks' entries in C order (so ``m.data = blocks.ravel()`` fills it)."""
    b = np.arange(n_blocks)[:, None, None] * k
    r = np.broadcast_to(b + np.arange(k)[None, :, None], (n_blocks, k, k)).ravel()
    c = np.broadcast_to(b + np.arange(k)[None, None, :], (n_blocks, k, k)).ravel()
    m = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n_blocks * k, n_blocks * k))
    m.sort_indices()  # row by row, columns increasing: the C order of each block's rows
    return m


@dataclass
class CrossProducts:
    """The data, reduced to the cross-products the deviance needs (computed once).

    ``A`` is the set of terms sharing the grouping factor with the most random
    effects (block-diagonal ``Z_A'Z_A``), ``B`` the other terms. The response is
    replaced by its residual from ordinary least squares, ``e = y - X β_ols``:
    the same model with ``β`` shifted by ``β_ols``, and much smaller sums of
    squares (no cancellation in ``r²``).
    """

    n: int
    p: int
    beta_ols: np.ndarray
    XtX: np.ndarray
    Xte: np.ndarray
    ete: float
    # A: one grouping factor, block diagonal
    a_terms: list
    l_A: int
    p_A: int
    ZtZ_A: np.ndarray      # (l_A, p_A, p_A)
    ZtX_A: np.ndarray      # (l_A, p_A, p)
    Zte_A: np.ndarray      # (l_A, p_A)
    # B: the other terms
    b_terms: list
    q_B: int
    ZtZ_B: np.ndarray      # (q_B, q_B) dense
    ZtZ_BA: object         # (q_B, q_A) scipy.sparse CSR, or dense when it is nearly full
    ZtX_B: np.ndarray      # (q_B, p)
    Zte_B: np.ndarray      # (q_B,)

    @classmethod
    def build(cls, X: np.ndarray, y: np.ndarray, terms: list[ReTerm]) -> "CrossProducts":
        n, p = X.shape
        beta_ols = np.linalg.lstsq(X, y, rcond=None)[0]
        e = y - X @ beta_ols
        # A: the grouping factor whose terms hold the most random effects
        q_by_group: dict[str, int] = {}
        for t in terms:
            q_by_group[t.group] = q_by_group.get(t.group, 0) + t.q
        a_group = max(q_by_group, key=q_by_group.get)
        a_terms = [t for t in terms if t.group == a_group]
        b_terms = [t for t in terms if t.group != a_group]
        codes = a_terms[0].codes
        l_A = a_terms[0].n_levels
        XA = np.column_stack([t.X for t in a_terms])
        p_A = XA.shape[1]

        def per_level(w):
            return np.bincount(codes, weights=w, minlength=l_A)

        ZtZ_A = np.empty((l_A, p_A, p_A))
        for j in range(p_A):
            for k in range(j + 1):
                ZtZ_A[:, j, k] = ZtZ_A[:, k, j] = per_level(XA[:, j] * XA[:, k])
        ZtX_A = np.empty((l_A, p_A, p))
        for j in range(p_A):
            for k in range(p):
                ZtX_A[:, j, k] = per_level(XA[:, j] * X[:, k])
        Zte_A = np.column_stack([per_level(XA[:, j] * e) for j in range(p_A)])

        Z_B = _z_sparse(b_terms, n)
        q_B = Z_B.shape[1]
        if q_B:
            # Z_A with A's columns level-major over all of A's terms (p_A per level)
            ZA = sp.csc_matrix(
                (XA.ravel(), (np.repeat(np.arange(n), p_A),
                              (codes[:, None] * p_A + np.arange(p_A)).ravel())),
                shape=(n, l_A * p_A))
            ZBt = Z_B.T.tocsr()
            ZtZ_B = (ZBt @ Z_B).toarray()
            ZtZ_BA = (ZBt @ ZA).tocsr()
            size = q_B * l_A * p_A
            if size <= 2.5e5 or (ZtZ_BA.nnz > 0.1 * size and size <= 4e6):
                ZtZ_BA = ZtZ_BA.toarray()
            ZtX_B = np.asarray(ZBt @ X)
            Zte_B = np.asarray(ZBt @ e)
        else:
            ZtZ_B = np.zeros((0, 0))
            ZtZ_BA = sp.csr_matrix((0, l_A * p_A))
            ZtX_B = np.zeros((0, p))
            Zte_B = np.zeros(0)
        return cls(n, p, beta_ols, X.T @ X, X.T @ e, float(e @ e),
                   a_terms, l_A, p_A, ZtZ_A, ZtX_A, Zte_A,
                   b_terms, q_B, ZtZ_B, ZtZ_BA, ZtX_B, Zte_B)


# ---------------------------------------------------------------------------
# the model: Λθ, the blocked Cholesky factor, the profiled deviance
# ---------------------------------------------------------------------------
@dataclass
class Factor:
    """Everything that one value of θ determines (section 3.2-3.4 of the paper)."""

    theta: np.ndarray
    T_A: np.ndarray        # (p_A, p_A): A's block of Λθ, the same for every level
    L_A: np.ndarray        # (l_A, p_A, p_A) lower Cholesky factors
    L_BA: object           # (q_B, q_A)
    L_B: np.ndarray        # (q_B, q_B) lower
    Lambda_B: sp.csr_matrix
    cu: np.ndarray         # (q,) = [cu_A (level-major), cu_B]
    RZX: np.ndarray        # (q, p)
    RX: np.ndarray         # (p, p) lower: RX RX' = X'V⁻¹X / σ²-free
    cbeta: np.ndarray
    beta: np.ndarray       # β̂(θ), on the scale of the original response
    r2: float              # penalized residual sum of squares
    ldL2: float            # log |L|²
    ldRX2: float           # log |RX|²
    L: np.ndarray | None = None        # the whole factor, when it is small (dense path)
    Lambda: np.ndarray | None = None   # the whole Λθ, likewise


class LmerModel:
    """lme4's profiled deviance as a function of θ, for given terms and cross-products."""

    def __init__(self, X: np.ndarray, y: np.ndarray, terms: list[ReTerm], reml: bool = True):
        self.terms = terms
        self.reml = bool(reml)
        self.cp = CrossProducts.build(X, y, terms)
        self.n, self.p = X.shape
        self._X = X  # kept for with_response (a new response, the same cross-products)
        self._response_ops = None
        rows, cols, self.theta0, self.lower = theta_layout(terms)
        starts = np.cumsum([0] + [t.n_theta for t in terms])
        self.theta_slices = [slice(starts[i], starts[i + 1]) for i in range(len(terms))]
        self._tri = list(zip(rows, cols))
        cp = self.cp
        # A's template: block diagonal over A's terms, which index θ through `a_index`
        self._a_pos = []  # (row, col, theta index) of A's template entries
        off = 0
        for t in cp.a_terms:
            i = terms.index(t)
            r, c = self._tri[i]
            ix = np.arange(self.theta_slices[i].start, self.theta_slices[i].stop)
            self._a_pos.append((off + r, off + c, ix))
            off += t.p
        self._w_pattern = _block_diagonal_pattern(cp.l_A, cp.p_A)
        # Λ_B (effect-major: T_i ⊗ I per term) as a sparse matrix with a fixed pattern, for
        # products with sparse matrices; `_b_index[k]` is the θ element of its k-th entry
        self._b_blocks = []  # (term index, offset, p, levels)
        off = 0
        for t in cp.b_terms:
            self._b_blocks.append((terms.index(t), off, t.p, t.n_levels))
            off += t.q
        self._b_scalar = all(p_i == 1 for _, _, p_i, _ in self._b_blocks)
        if self._b_scalar:
            self._b_diag_index = np.concatenate(
                [np.full(l_i, self.theta_slices[i].start) for i, _, _, l_i in self._b_blocks]
                or [np.zeros(0, dtype=int)])
        if cp.q_B:
            rr, cc, ii = [], [], []
            for i, off, p_i, l_i in self._b_blocks:
                r, c = self._tri[i]
                ix = np.arange(self.theta_slices[i].start, self.theta_slices[i].stop)
                lev = np.arange(l_i)[None, :]
                rr.append((off + r[:, None] * l_i + lev).ravel())
                cc.append((off + c[:, None] * l_i + lev).ravel())
                ii.append(np.repeat(ix, l_i))
            order = np.arange(sum(len(x) for x in rr))
            lam = sp.csr_matrix((order + 1.0, (np.concatenate(rr), np.concatenate(cc))),
                                shape=(cp.q_B, cp.q_B))
            lam.sort_indices()
            self._b_index = np.concatenate(ii)[lam.data.astype(np.int64) - 1]
            self._lambda_B = lam
        self.n_evals = 0   # deviances evaluated
        self.n_grads = 0   # exact gradients evaluated
        # Small models: one dense Cholesky of the whole Λ'Z'ZΛ + I costs less than the
        # blocked steps' overheads, and gives the exact gradient (see `gradient`), which saves
        # the 2 x len(θ) evaluations of a difference gradient. Same [A, B] order.
        q = cp.l_A * cp.p_A + cp.q_B
        self.dense = q <= self.DENSE_Q or (q <= 3 * self.DENSE_Q and len(self.theta0) >= 3)
        if self.dense:
            self._setup_dense()
        # Many θ: a difference gradient costs 2 x len(θ) deviances, the exact one about
        # a dense solve with q right-hand sides, L⁻¹Λ'Z'Z (blocked, see `gradient`)
        self.has_gradient = self.dense or (
            len(self.theta0) >= self.GRADIENT_MIN_THETA and q <= self.GRADIENT_MAX_Q)
        if self.has_gradient and not self.dense:
            self._setup_dense()

    DENSE_Q = 130
    GRADIENT_MIN_THETA = 4    # blocked models with this many θ use the exact gradient
    GRADIENT_MAX_Q = 3000     # ... if the q x q matrices it needs are small enough

    def _setup_dense(self):
        cp = self.cp
        q_A = cp.l_A * cp.p_A
        q = q_A + cp.q_B
        ZtZ = np.zeros((q, q))
        for l in range(cp.l_A):
            ZtZ[l * cp.p_A:(l + 1) * cp.p_A, l * cp.p_A:(l + 1) * cp.p_A] = cp.ZtZ_A[l]
        if cp.q_B:
            ba = cp.ZtZ_BA.toarray() if sp.issparse(cp.ZtZ_BA) else cp.ZtZ_BA
            ZtZ[q_A:, :q_A] = ba
            ZtZ[:q_A, q_A:] = ba.T
            ZtZ[q_A:, q_A:] = cp.ZtZ_B
        self._ZtZ = ZtZ
        self._Zte_ZtX = np.column_stack([
            np.concatenate([cp.Zte_A.reshape(-1), cp.Zte_B]),
            np.vstack([cp.ZtX_A.reshape(-1, cp.p), cp.ZtX_B])])
        # Λ's non-zero entries: (row, column, θ index)
        rows, cols, idx = [], [], []
        for r, c, ix in self._a_pos:
            base = np.arange(cp.l_A)[:, None] * cp.p_A
            rows.append((base + r).ravel())
            cols.append((base + c).ravel())
            idx.append(np.broadcast_to(ix, (cp.l_A, len(ix))).ravel())
        if cp.q_B:
            coo = self._lambda_B.tocoo()
            rows.append(coo.row + q_A)
            cols.append(coo.col + q_A)
            idx.append(self._b_coo_index(coo))
        rows, cols, idx = np.concatenate(rows), np.concatenate(cols), np.concatenate(idx)
        self._lam_pos = (rows, cols, idx, q)
        # Λ as a sparse matrix with this fixed pattern; data slot k holds entry _lam_data_entry[k]
        order = np.arange(len(rows))
        lam = sp.csr_matrix((order + 1.0, (rows, cols)), shape=(q, q))
        lam.sort_indices()
        self._lam_csr = lam
        self._lam_data_entry = lam.data.astype(np.int64) - 1   # entry e behind each data slot
        # for the gradient: (AΛ) at Λ's own entries only, (AΛ)_rc = Σ_{e in column c} A_{r,row(e)}
        # Λ_e, from the pairs (a, e) of entries in the same column
        pa, pe = [], []
        by_col: dict[int, list] = {}
        for e, c in enumerate(cols):
            by_col.setdefault(int(c), []).append(e)
        for members in by_col.values():
            for a in members:
                for e in members:
                    pa.append(a)
                    pe.append(e)
        self._pairs = (np.array(pa, dtype=np.int64), np.array(pe, dtype=np.int64))
        # Λ is block diagonal: one p_A x p_A block per level of A, one p_i x p_i block per
        # level of each B term. Both rows of a pair lie in one block, so the entries the
        # gradient needs of K'K are in the Gram matrices of K's column blocks
        # (`_gram_A`, `_gram_B`); `_pair_slot` is where each pair's entry sits in them.
        base, pos, size = (np.empty(q, dtype=np.int64) for _ in range(3))
        r = np.arange(q_A)
        base[:q_A], pos[:q_A], size[:q_A] = (r // cp.p_A) * cp.p_A**2, r % cp.p_A, cp.p_A
        start = q_A * cp.p_A
        for _, off, p_i, l_i in self._b_blocks:
            t = np.arange(p_i * l_i)
            sl = slice(q_A + off, q_A + off + p_i * l_i)
            base[sl], pos[sl], size[sl] = start + (t % l_i) * p_i**2, t // l_i, p_i
            start += l_i * p_i**2
        r_, j_ = rows[self._pairs[0]], rows[self._pairs[1]]
        self._pair_slot = base[r_] + pos[r_] * size[r_] + pos[j_]
        self._ZtZ_pairs = ZtZ[r_, j_]
        if not self.dense:   # the blocked gradient reads the cross-products' blocks
            self._ZtZ = None

    def _b_coo_index(self, coo):
        """θ index of each entry of Λ_B in the order of ``coo`` (the CSR data order maps)."""
        csr = self._lambda_B
        row_of_entry = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
        key = row_of_entry * csr.shape[1] + csr.indices
        order = np.argsort(key)
        pos = order[np.searchsorted(key[order], coo.row * csr.shape[1] + coo.col)]
        return self._b_index[pos]

    def _factor_dense(self, theta: np.ndarray) -> Factor:
        cp = self.cp
        rows, cols, idx, q = self._lam_pos
        lam = self._lam_csr.copy()
        lam.data = theta[idx[self._lam_data_entry]]
        lamT = lam.T.tocsr()
        M = np.asarray(lamT @ np.asarray(lamT @ self._ZtZ).T)   # Λ'Z'ZΛ (Z'Z symmetric)
        M[np.diag_indices_from(M)] += 1.0                        # + I (eq. 18)
        L, info = lapack.dpotrf(M, lower=1, clean=1, overwrite_a=1)   # np's is slower
        if info != 0:
            raise np.linalg.LinAlgError(f"Λ'Z'ZΛ + I is not positive definite (LAPACK "
                                        f"dpotrf info {info})")
        sol = _solve_lower(L, lamT @ self._Zte_ZtX)              # cu and RZX (eq. 19-20)
        cu, RZX = sol[:, 0], sol[:, 1:]
        ldL2 = 2.0 * float(np.sum(np.log(np.diag(L))))
        XtVX = cp.XtX - RZX.T @ RZX
        RX = np.linalg.cholesky(XtVX)
        cbeta = _solve_lower(RX, cp.Xte - RZX.T @ cu)
        beta_shift = _solve_lower(RX, cbeta, transpose=True)
        r2 = max(cp.ete - cu @ cu - cbeta @ cbeta, 1e-300)
        ldRX2 = 2.0 * float(np.sum(np.log(np.diag(RX))))
        return Factor(theta, self.T_A(theta), None, None, None, None, cu, RZX, RX, cbeta,
                      cp.beta_ols + beta_shift, float(r2), ldL2, ldRX2, L, lam)

    def gradient(self, theta, factor: Factor | None = None) -> np.ndarray:
        """The exact gradient of the profiled deviance (small models, or many θ).

        With V = I + ZΛΛ'Z' (the covariance of y over σ²), P = V⁻¹ - V⁻¹X(X'V⁻¹X)⁻¹X'V⁻¹
        and r̃ = V⁻¹(y - Xβ̂), the REML criterion changes along θ_k by
        ``tr(P dV) - (n - p)/r² r̃'dV r̃`` (ML: V⁻¹ for P, n for n - p), and
        ``dV = Z(E_k Λ' + Λ E_k')Z'`` with E_k the pattern of θ_k in Λ, so
        ``∂/∂θ_k = 2 Σ_{(r,c) ∈ θ_k} [(Z'PZ Λ)_rc - (n - p)/r² (Z'r̃)_r (Λ'Z'r̃)_c]``.
        Everything comes from the cross-products: with K = L⁻¹Λ'Z'Z,
        Z'V⁻¹Z = Z'Z - K'K, Z'V⁻¹X = Z'X - K'RZX, Z'V⁻¹y = Z'y - K'cu, and of Z'V⁻¹Z
        only the diagonal blocks of Λ's pattern are needed. ``factor``, the factor at
        ``theta`` if the caller has it (the deviance was just evaluated there).
        """
        self.n_grads += 1
        theta = np.asarray(theta, dtype=float)
        cp = self.cp
        rows, cols, idx, q = self._lam_pos
        lam = self._lam_csr.copy()
        lam.data = theta[idx[self._lam_data_entry]]
        lamT = lam.T.tocsr()
        if self.dense:
            f = self._factor_dense(theta) if factor is None else factor
            K = _solve_lower(f.L, np.asarray(lamT @ self._ZtZ))
            KtR = K.T @ np.column_stack([f.cu, f.RZX])
            q_A = cp.l_A * cp.p_A
            gram = np.concatenate([self._gram_A(K[:, :q_A]), self._gram_B(K[:, q_A:])])
        else:  # the blocked factor: the same products, block by block
            f = self.factor(theta) if factor is None else factor
            KtR, gram = self._blocked_products(f, theta)
        ZVX = self._Zte_ZtX[:, 1:] - KtR[:, 1:]
        ZVe = self._Zte_ZtX[:, 0] - KtR[:, 0]
        Zr = ZVe - ZVX @ (f.beta - cp.beta_ols)                  # Z'r̃
        # the entries of A = Z'PZ (Z'V⁻¹Z for ML) that (AΛ) at Λ's entries needs
        if self.reml:
            G = _solve_lower(f.RX, ZVX.T)
            q_A = cp.l_A * cp.p_A
            gram += np.concatenate([self._gram_A(G[:, :q_A]), self._gram_B(G[:, q_A:])])
            dof = self.n - self.p
        else:
            dof = self.n
        pa, pe = self._pairs
        A = self._ZtZ_pairs - gram[self._pair_slot]
        AL = np.bincount(pa, weights=A * theta[idx[pe]], minlength=len(rows))
        LZr = lamT @ Zr
        per_entry = 2.0 * (AL - (dof / f.r2) * Zr[rows] * LZr[cols])
        return np.bincount(idx, weights=per_entry, minlength=len(theta))

    def _gram_A(self, K: np.ndarray) -> np.ndarray:
        """The p_A x p_A diagonal blocks of K'K for K (k x q_A) on A's columns
        (level-major), flattened: the first part of ``_pair_slot``'s layout."""
        cp = self.cp
        KA = K.reshape(K.shape[0], cp.l_A, cp.p_A).transpose(1, 2, 0)   # (l_A, p_A, k)
        return np.matmul(KA, KA.transpose(0, 2, 1)).ravel()

    def _gram_B(self, K: np.ndarray) -> np.ndarray:
        """The p_i x p_i diagonal blocks of K'K for K (k x q_B) on B's columns (each
        term effect-major), flattened: the second part of ``_pair_slot``'s layout."""
        out = [np.zeros(0)]
        for _, off, p_i, l_i in self._b_blocks:
            KB = K[:, off:off + p_i * l_i].reshape(K.shape[0], p_i, l_i)
            KB = KB.transpose(2, 1, 0)                              # (l_i, p_i, k)
            out.append(np.matmul(KB, KB.transpose(0, 2, 1)).ravel())
        return np.concatenate(out)

    def _blocked_products(self, f: Factor, theta: np.ndarray):
        """``K'[cu, RZX]`` and the diagonal blocks of ``K'K`` (:meth:`gradient`) for
        ``K = L⁻¹Λ'Z'Z``, from the blocked factor ``f``.

        With Y = Λ'Z'Z: K_A = L_A⁻¹ Y_A, whose A columns are block diagonal (one
        p_A x p_A block per level), and K_B = L_B⁻¹ (Y_B - L_BA K_A); so the only large
        products are ``L_BA K_AB`` (q_B x q_A x q_B) and the solve with L_B
        (q_B² x q), never a q x q solve.
        """
        cp = self.cp
        l_A, p_A, q_B = cp.l_A, cp.p_A, cp.q_B
        q_A = l_A * p_A
        R = np.column_stack([f.cu, f.RZX])                         # (q, 1 + p)
        LiTt = np.linalg.inv(f.L_A) @ f.T_A.T                  # L_A⁻¹ Λ_A', per level
        K_AA = LiTt @ cp.ZtZ_A                                     # (l_A, p_A, p_A)
        K_AAt = K_AA.transpose(0, 2, 1)
        KtR_A = np.matmul(K_AAt, R[:q_A].reshape(l_A, p_A, -1)).reshape(q_A, -1)
        gram_A = np.matmul(K_AAt, K_AA).ravel()
        if not q_B:
            return KtR_A, gram_A
        ZtZ_BA = cp.ZtZ_BA.toarray() if sp.issparse(cp.ZtZ_BA) else cp.ZtZ_BA
        L_BA = f.L_BA.toarray() if sp.issparse(f.L_BA) else np.asarray(f.L_BA)
        K_AB = (LiTt @ ZtZ_BA.T.reshape(l_A, p_A, q_B)).reshape(q_A, q_B)
        # L_BA K_AA: K_AA is block diagonal, so level by level
        LK = np.matmul(L_BA.reshape(q_B, l_A, p_A).transpose(1, 0, 2), K_AA)
        rhs = np.empty((q_B, q_A + q_B))
        rhs[:, :q_A] = self._lambda_B_t_dense(theta, ZtZ_BA)
        rhs[:, :q_A] -= LK.transpose(1, 0, 2).reshape(q_B, q_A)
        rhs[:, q_A:] = self._lambda_B_t_dense(theta, cp.ZtZ_B) - L_BA @ K_AB
        K_B = _solve_lower(f.L_B, rhs)                             # (q_B, q)
        R_B = R[q_A:]
        KtR = np.empty((q_A + q_B, R.shape[1]))
        KtR[:q_A] = KtR_A + K_B[:, :q_A].T @ R_B
        KtR[q_A:] = K_AB.T @ R[:q_A] + K_B[:, q_A:].T @ R_B
        gram_A += self._gram_A(K_B[:, :q_A])
        gram_B = self._gram_B(K_AB) + self._gram_B(K_B[:, q_A:])
        return KtR, np.concatenate([gram_A, gram_B])

    # -- Λθ ------------------------------------------------------------------
    def T_A(self, theta: np.ndarray) -> np.ndarray:
        T = np.zeros((self.cp.p_A, self.cp.p_A))
        for r, c, ix in self._a_pos:
            T[r, c] = theta[ix]
        return T

    def Lambda_B(self, theta: np.ndarray) -> sp.csr_matrix:
        lam = self._lambda_B.copy()
        lam.data = theta[self._b_index].astype(float)
        return lam

    def _lambda_B_dense(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Λ_B u for a vector u: per term, T_i applied to u_i viewed as (p_i, levels)."""
        out = np.empty_like(u)
        for i, off, p_i, l_i in self._b_blocks:
            out[off:off + p_i * l_i] = (self.T(theta, i) @ u[off:off + p_i * l_i]
                                        .reshape(p_i, l_i)).ravel()
        return out

    def _lambda_B_t_dense(self, theta: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Λ_B' Y for a dense Y (q_B x k): per term, (T_i ⊗ I)' Y_i = T_i' contracted with
        Y_i viewed as (p_i, levels, k)."""
        if self._b_scalar:  # only random intercepts and single slopes: Λ_B is diagonal
            return theta[self._b_diag_index][:, None] * Y if Y.ndim == 2 \
                else theta[self._b_diag_index] * Y
        out = np.empty_like(Y)
        for i, off, p_i, l_i in self._b_blocks:
            Yi = Y[off:off + p_i * l_i].reshape(p_i, l_i, -1)
            out[off:off + p_i * l_i] = np.tensordot(self.T(theta, i), Yi, axes=([0], [0])
                                                    ).reshape(p_i * l_i, -1)
        return out

    def T(self, theta: np.ndarray, i: int) -> np.ndarray:
        """The lower-triangular factor T_i of term i: Cov(b_level) = σ² T_i T_i'."""
        t = self.terms[i]
        T = np.zeros((t.p, t.p))
        r, c = self._tri[i]
        T[r, c] = theta[self.theta_slices[i]]
        return T

    # -- the factorisation ---------------------------------------------------
    def factor(self, theta) -> Factor:
        """L, cu, RZX, RX, cβ, β̂ and r² at θ (eq. 18-23), by the blocked elimination."""
        cp = self.cp
        theta = np.asarray(theta, dtype=float)
        if self.dense:
            return self._factor_dense(theta)
        T_A = self.T_A(theta)
        # A: one p_A x p_A block per level
        D = T_A.T @ cp.ZtZ_A @ T_A + np.eye(cp.p_A)             # Λ_A'Z_A'Z_AΛ_A + I
        L_A = np.linalg.cholesky(D)
        L_A_inv = np.linalg.inv(L_A)
        LiTt = L_A_inv @ T_A.T                                    # L_A⁻¹ Λ_A', per level
        cu_A = (LiTt @ cp.Zte_A[:, :, None])[:, :, 0]
        RZX_A = LiTt @ cp.ZtX_A
        ldL2 = 2.0 * float(np.sum(np.log(np.diagonal(L_A, axis1=1, axis2=2))))
        cu_A = cu_A.reshape(-1)
        RZX_A = RZX_A.reshape(-1, cp.p)
        if cp.q_B:
            W_blocks = T_A @ np.swapaxes(L_A_inv, 1, 2)           # Λ_A L_A'⁻¹, per level
            if sp.issparse(cp.ZtZ_BA):
                lam = self.Lambda_B(theta)
                W = self._w_pattern.copy()
                W.data = W_blocks.ravel()
                L_BA = ((lam.T.tocsr() @ cp.ZtZ_BA) @ W).tocsr()
                S = (L_BA @ L_BA.T).toarray()
            else:  # dense (small or nearly full): the same products without scipy.sparse
                lam = None
                M_BA = self._lambda_B_t_dense(theta, cp.ZtZ_BA).reshape(cp.q_B, cp.l_A, cp.p_A)
                if cp.p_A == 1:
                    L_BA = (M_BA[:, :, 0] * W_blocks[:, 0, 0])
                else:
                    L_BA = np.matmul(M_BA.transpose(1, 0, 2), W_blocks  # level by level
                                     ).transpose(1, 0, 2).reshape(cp.q_B, -1)
                # L_BA L_BA' with BLAS syrk: only the lower triangle, which is all the
                # Cholesky factorisation below reads
                S = blas.dsyrk(1.0, L_BA.T, trans=1, lower=1)
            # Λ_B' Z_B'Z_B Λ_B = Λ_B' (Λ_B' Z_B'Z_B)'  (Z_B'Z_B is symmetric)
            M_BB = self._lambda_B_t_dense(theta, self._lambda_B_t_dense(theta, cp.ZtZ_B).T)
            S = M_BB - S
            S[np.diag_indices_from(S)] += 1.0
            L_B, info = lapack.dpotrf(S, lower=1, clean=1, overwrite_a=1)  # lower triangle
            if info != 0:
                raise np.linalg.LinAlgError(f"the Schur complement is not positive definite "
                                            f"(LAPACK dpotrf info {info})")
            ldL2 += 2.0 * float(np.sum(np.log(np.diag(L_B))))
            rhs = self._lambda_B_t_dense(theta, np.column_stack([cp.Zte_B, cp.ZtX_B]))
            rhs -= np.column_stack([L_BA @ cu_A, L_BA @ RZX_A])
            sol = _solve_lower(L_B, rhs)
            cu = np.concatenate([cu_A, sol[:, 0]])
            RZX = np.vstack([RZX_A, sol[:, 1:]])
        else:
            lam, L_BA, L_B = None, None, np.zeros((0, 0))
            cu, RZX = cu_A, RZX_A
        XtVX = cp.XtX - RZX.T @ RZX                               # RX RX' (eq. 21)
        RX = np.linalg.cholesky(XtVX)
        cbeta = _solve_lower(RX, cp.Xte - RZX.T @ cu)
        beta_shift = _solve_lower(RX, cbeta, transpose=True)
        r2 = max(cp.ete - cu @ cu - cbeta @ cbeta, 1e-300)       # eq. 23
        ldRX2 = 2.0 * float(np.sum(np.log(np.diag(RX))))
        return Factor(theta, T_A, L_A, L_BA, L_B, lam, cu, RZX, RX, cbeta,
                      cp.beta_ols + beta_shift, float(r2), ldL2, ldRX2)

    # -- deviance --------------------------------------------------------------
    def deviance(self, theta) -> float:
        """The profiled deviance (REML criterion if ``reml``), -2 log L(θ) (eq. 34/41)."""
        self.n_evals += 1
        try:
            f = self.factor(theta)
        except np.linalg.LinAlgError:
            return np.inf
        return self._deviance(f)

    def _deviance(self, f: Factor) -> float:
        n, p = self.n, self.p
        if self.reml:
            return f.ldL2 + f.ldRX2 + (n - p) * (1.0 + np.log(2 * np.pi * f.r2 / (n - p)))
        return f.ldL2 + n * (1.0 + np.log(2 * np.pi * f.r2 / n))

    def sigma(self, f: Factor) -> float:
        """σ̂ at θ: the penalized RSS over n - p (REML) or n (ML)."""
        return float(np.sqrt(f.r2 / (self.n - self.p if self.reml else self.n)))

    def deviance_varpar(self, varpar) -> float:
        """-2 log L at (θ, σ), β at its conditional estimate β̂(θ) (lmerTest's devfun_vp)."""
        varpar = np.asarray(varpar, dtype=float)
        f = self.factor(varpar[:-1])
        s2 = varpar[-1] ** 2
        n, p = self.n, self.p
        dev = f.ldL2 + f.r2 / s2 + n * np.log(2 * np.pi * s2)
        if self.reml:
            dev += f.ldRX2 - p * np.log(2 * np.pi * s2)
        return float(dev)

    def vcov_varpar(self, varpar) -> np.ndarray:
        """Cov(β̂) = σ² (RX RX')⁻¹ at (θ, σ)."""
        varpar = np.asarray(varpar, dtype=float)
        f = self.factor(varpar[:-1])
        RXinv = _solve_lower(f.RX, np.eye(self.p))
        return varpar[-1] ** 2 * (RXinv.T @ RXinv)

    # -- a new response, the same design (parametric bootstrap, profiles) -------
    def _response_operators(self):
        """What turning a response into ``X'e``, ``Z'e`` needs, built once and shared by
        every copy made by :meth:`with_response`: A's stacked columns and codes, Z_B'."""
        if self._response_ops is None:
            cp = self.cp
            XA = np.column_stack([t.X for t in cp.a_terms])
            ZBt = _z_sparse(cp.b_terms, self.n).T.tocsr() if cp.q_B else None
            self._response_ops = (XA, cp.a_terms[0].codes, ZBt)
        return self._response_ops

    def with_response(self, y) -> "LmerModel":
        """The same model for another response vector ``y`` (same rows, X and Z).

        Only ``X'y``, ``Z'y`` and ``y'y`` are recomputed (one pass over the rows); Z'Z,
        Z'X, X'X and every pattern of the factorisation are shared with this model, so a
        refit costs what a fit costs once the cross-products exist. The copy shares
        those arrays: do not modify them.
        """
        y = np.asarray(y, dtype=float).ravel()
        if y.shape != (self.n,):
            raise ValueError(f"y must have one value per row ({self.n}), got shape {y.shape}")
        if not np.all(np.isfinite(y)):
            raise ValueError("y has missing or infinite values")
        cp = self.cp
        XA, codes, ZBt = self._response_operators()
        beta_ols = sla.solve(cp.XtX, self._X.T @ y, assume_a="pos")
        e = y - self._X @ beta_ols
        Zte_A = np.column_stack([np.bincount(codes, weights=XA[:, j] * e, minlength=cp.l_A)
                                 for j in range(cp.p_A)])
        Zte_B = np.asarray(ZBt @ e) if cp.q_B else np.zeros(0)
        new = copy.copy(self)
        new.cp = dataclasses.replace(cp, beta_ols=beta_ols, Xte=self._X.T @ e,
                                     ete=float(e @ e), Zte_A=Zte_A, Zte_B=Zte_B)
        new.n_evals = new.n_grads = 0
        if self.has_gradient:   # the dense cross-products of `gradient`
            new._Zte_ZtX = self._Zte_ZtX.copy()
            new._Zte_ZtX[:, 0] = np.concatenate([Zte_A.reshape(-1), Zte_B])
        return new

    def refit_theta(self, theta0, maxiter: int = 500) -> tuple[np.ndarray, float]:
        """Minimise the deviance by L-BFGS-B from ``theta0`` (e.g. the original fit's θ),
        without :func:`optimize`'s restarts and convergence checks: the quick refit of a
        parametric bootstrap. Works on the scaled parameters of :func:`theta_scales`, as
        :func:`optimize` does. Returns ``(theta, deviance)``."""
        lower = self.lower
        bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
        scaled = _Scaled(self, theta_scales(self))
        if self.has_gradient:
            def jac(x):
                try:
                    return scaled.gradient(x)
                except np.linalg.LinAlgError:
                    return _central_gradient(scaled.deviance, x, lower)
        else:
            def jac(x):
                return _central_gradient(scaled.deviance, x, lower)
        x0 = np.maximum(np.asarray(theta0, dtype=float) / scaled.scale, lower)
        r = so.minimize(scaled.deviance, x0, jac=jac, method="L-BFGS-B", bounds=bounds,
                        options={"ftol": 1e-12, "gtol": 1e-6, "maxiter": maxiter})
        x = scaled.scale * np.where(np.isfinite(lower) & (r.x - lower < 1e-10), lower, r.x)
        return x, float(self.deviance(x))

    # -- conditional modes -------------------------------------------------------
    def conditional_modes(self, f: Factor) -> list[np.ndarray]:
        """b = Λθ ũ, ũ = L'⁻¹ (cu - RZX β̂) (eq. 24): one (levels x p_i) array per term."""
        cp = self.cp
        rhs = f.cu - f.RZX @ (f.beta - cp.beta_ols)
        q_A = cp.l_A * cp.p_A
        if f.L is not None:  # dense path: ũ = L'⁻¹ rhs, b = Λ ũ
            b = f.Lambda @ _solve_lower(f.L, rhs, transpose=True)
            b_A, b_B = b[:q_A].reshape(cp.l_A, cp.p_A), b[q_A:]
        else:
            if cp.q_B:
                u_B = _solve_lower(f.L_B, rhs[q_A:], transpose=True)
                rhs_A = rhs[:q_A] - np.asarray(f.L_BA.T @ u_B).ravel()
            else:
                u_B = np.zeros(0)
                rhs_A = rhs
            rhs_A = rhs_A.reshape(cp.l_A, cp.p_A)
            L_At = np.swapaxes(f.L_A, 1, 2)
            u_A = np.linalg.solve(L_At, rhs_A[:, :, None])[:, :, 0]
            b_A = u_A @ f.T_A.T                                    # (l_A, p_A)
            b_B = self._lambda_B_dense(f.theta, u_B) if cp.q_B else u_B  # effect-major
        return self.split_effects(b_A, b_B)

    def split_effects(self, b_A: np.ndarray, b_B: np.ndarray) -> list[np.ndarray]:
        """The random effects of the blocked layout, one (levels x p_i) array per term.

        ``b_A`` holds the terms of the largest grouping factor as (levels x columns);
        ``b_B`` the others, effect-major (all levels of a term's first column, then its
        next column).
        """
        cp = self.cp
        out: list = [None] * len(self.terms)
        off = 0
        for t in cp.a_terms:
            out[self.terms.index(t)] = b_A[:, off:off + t.p]
            off += t.p
        off = 0
        for t in cp.b_terms:
            out[self.terms.index(t)] = np.asarray(b_B[off:off + t.q]).reshape(t.p, t.n_levels).T
            off += t.q
        return out


# ---------------------------------------------------------------------------
# the fit
# ---------------------------------------------------------------------------
def _central_gradient(fun, x, lower, h=1e-5, f0=None):
    """Finite-difference gradient: central differences, one-sided (forward) at a bound.

    A diagonal element of T_i at its bound 0 with zeros below it is special: the
    deviance is even in it (the column's sign does not matter), so a central
    difference across the bound is exactly 0 whatever the curvature, and an
    optimizer reading it stops there even where the deviance falls on moving up (a
    saddle, not a minimum: in the variance ``t²`` the slope is negative). The
    forward difference sees that fall (``≈ f'' h / 2 < 0``) and lets it move inward.
    """
    x = np.asarray(x, dtype=float)
    g = np.empty_like(x)
    for i in range(len(x)):
        step = h * max(1.0, abs(x[i]))
        e = np.zeros_like(x)
        e[i] = step
        if np.isfinite(lower[i]) and x[i] - lower[i] < step:
            if f0 is None:
                f0 = fun(x)
            g[i] = (fun(x + e) - f0) / step
        else:
            g[i] = (fun(x + e) - fun(x - e)) / (2 * step)
    return g


def _gradient_and_hessian(fun, x, h=1e-4):
    """Central-difference gradient and Hessian, as lme4's ``deriv12`` computes them for its
    convergence checks, from 1 + k + k² evaluations: f(x), f(x ± h_i e_i) and
    f(x ± (h_i e_i + h_j e_j))."""
    k = len(x)
    steps = h * np.maximum(1.0, np.abs(x))
    f0 = fun(x)
    fp, fm = np.empty(k), np.empty(k)
    for i in range(k):
        e = np.zeros(k)
        e[i] = steps[i]
        fp[i], fm[i] = fun(x + e), fun(x - e)
    g = (fp - fm) / (2 * steps)
    H = np.diag((fp - 2 * f0 + fm) / steps**2)
    for i in range(k):
        for j in range(i):
            e = np.zeros(k)
            e[i], e[j] = steps[i], steps[j]
            H[i, j] = H[j, i] = (fun(x + e) - fp[i] - fp[j] + 2 * f0 - fm[i] - fm[j]
                                 + fun(x - e)) / (2 * steps[i] * steps[j])
    return g, H


def _hessian_from_gradient(grad, x, h=1e-4):
    """The gradient at x and the Hessian as central differences of an exact gradient:
    2k + 1 gradients instead of 1 + k + k² deviances (for models with many θ)."""
    k = len(x)
    steps = h * np.maximum(1.0, np.abs(x))
    H = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = steps[i]
        H[:, i] = (grad(x + e) - grad(x - e)) / (2 * steps[i])
    return grad(x), 0.5 * (H + H.T)


class _Tracked:
    """A deviance function that remembers the lowest value it returned, and where."""

    def __init__(self, fun):
        self.fun = fun
        self.best_f = np.inf
        self.best_x = None

    def __call__(self, x):
        f = self.fun(x)
        if f < self.best_f:
            self.best_f, self.best_x = f, np.array(x, dtype=float)
        return f


def _tolerance(f: float) -> float:
    """How much lower a deviance must be to count as a better point (rounding aside)."""
    return 1e-9 * max(1.0, abs(f))


def _boundary_probes(fun, theta, lower, columns=None, boundary_tol=1e-4,
                     steps=(1e-3, 1e-2, 1e-1), only=None):
    """Deviances one step inside the bound, from every parameter at (or near) its bound.

    Each bound parameter k is moved to ``lower[k] + step`` for a few steps. With
    ``columns`` (``{diagonal index: indices below it}``, :func:`_columns`), a diagonal
    element at 0 is also moved up with the elements below it negated: the deviance
    is unchanged when a whole column of T_i changes sign, so that is the other side
    of the bound, where the descent may continue (:func:`_reflections`).

    Returns ``(at_bound, [(deviance, point, k), ...])``; ``only``: probe only these
    parameters.
    """
    theta = np.asarray(theta, dtype=float)
    at_bound = np.where(np.isfinite(lower) & (theta - lower < boundary_tol))[0]
    columns = columns or {}
    probes = []
    for k in at_bound if only is None else only:
        below = columns.get(int(k), np.zeros(0, dtype=int))
        flips = [None] + ([below] if np.any(theta[below] != 0.0) else [])
        for step in steps:
            for flip in flips:
                x = theta.copy()
                x[k] = lower[k] + step
                if flip is not None:
                    x[flip] = -x[flip]
                probes.append((float(fun(x)), x, int(k)))
    return at_bound, probes


@dataclass
class Convergence:
    """lme4's convergence checks at the optimum (``checkConv``), and the one-sided test
    at the bounds."""

    converged: bool
    max_grad: float        # largest |scaled gradient| (lme4's check.conv.grad, tol 0.002)
    hessian_pd: bool       # Hessian positive definite on the parameters off the boundary
    at_boundary: list      # indices of θ at their lower bound
    messages: list
    better: np.ndarray | None = None   # a point the checks found with a lower deviance


def check_convergence(fun, theta, lower, tol_grad=2e-3, boundary_tol=1e-4, *,
                      columns=None, grad=None) -> Convergence:
    """The gradient and Hessian tests lme4 runs after a fit, and a one-sided test at the
    bounds.

    The gradient is scaled by the Hessian (lme4: ``solve(chol(H), g)``) and its
    largest element, or the raw gradient's where that is smaller, must be below
    0.002; those tests cover the parameters off their bounds. A parameter at its
    bound is tested one-sidedly: the deviance one step inside the bound
    (:func:`_boundary_probes`) must not be lower than at ``theta`` (there the
    two-sided gradient of a diagonal element is 0 by symmetry whatever the
    curvature, so it cannot tell a constrained minimum from a saddle). Any point
    evaluated by the checks with a lower deviance than ``theta`` fails them, and is
    returned as ``better``.

    Parameters
    ----------
    fun : callable
        The deviance of θ.
    theta, lower : ndarray
        The optimum and the lower bounds.
    columns : dict, optional
        ``{diagonal index: indices below it}`` of every column of the T_i, for the
        probes across the bound (:func:`_columns`).
    grad : callable, optional
        The exact gradient: the Hessian is then differenced from it (2k + 1
        gradients instead of 1 + k + k² deviances).
    """
    fun = _Tracked(fun)
    theta = np.asarray(theta, dtype=float)
    f0 = fun(theta)
    tol = _tolerance(f0)
    messages = []
    at_bound, probes = _boundary_probes(fun, theta, lower, columns, boundary_tol)
    inward = sorted({k for f, _, k in probes if f < f0 - tol})
    if inward:
        messages.append(
            f"the deviance decreases when the parameters {inward} move inside their bound "
            f"(by up to {f0 - min(f for f, _, _ in probes):.3g}): a saddle point on the "
            "boundary, not a minimum")
    g = H_all = None
    if grad is not None:
        try:
            g, H_all = _hessian_from_gradient(grad, theta)
        except np.linalg.LinAlgError:   # the exact gradient failed near θ: differences
            pass
    if g is None:
        g, H_all = _gradient_and_hessian(fun, theta)
    free = np.setdiff1d(np.arange(len(theta)), at_bound)
    max_grad, hessian_pd = 0.0, True
    if len(free):
        H = H_all[np.ix_(free, free)]
        gf = g[free]
        evals = np.linalg.eigvalsh(H)
        # eigenvalues within finite-difference noise of 0 (relative to the largest) are a
        # flat direction, not a failure: a ridge of equally good points (unidentified
        # variances)
        flat = 1e-4 * max(np.max(np.abs(evals)), 1e-300)
        hessian_pd = bool(np.all(evals > -flat))
        try:
            scaled = np.abs(sla.solve(H, gf, assume_a="sym"))
            max_grad = float(np.max(np.minimum(scaled, np.abs(gf))))
        except (np.linalg.LinAlgError, ValueError):
            max_grad = float(np.max(np.abs(gf)))
        if not hessian_pd:
            messages.append("the Hessian of the deviance is not positive definite at the "
                            f"optimum (eigenvalues {np.round(evals, 6).tolist()}): the fit "
                            "stopped short or at a saddle point")
        elif np.min(evals) < flat:
            messages.append("the Hessian of the deviance is singular at the optimum "
                            f"(eigenvalues {np.round(evals, 6).tolist()}): the model is "
                            "nearly unidentifiable, some variance parameters are not "
                            "determined by the data (lme4: 'Model is nearly unidentifiable')")
        if max_grad > tol_grad:
            messages.append(f"the scaled gradient at the optimum is {max_grad:.3g} "
                            f"(> {tol_grad}): the fit may not have converged")
    better = None
    if fun.best_f < f0 - tol:
        better = fun.best_x
        if not inward:
            messages.append(f"a point near the optimum has a lower deviance (by "
                            f"{f0 - fun.best_f:.3g}): the fit has not converged")
    converged = hessian_pd and max_grad <= tol_grad and better is None
    return Convergence(converged, max_grad, hessian_pd, list(at_bound), messages, better)


def _columns(model: "LmerModel") -> dict:
    """``{diagonal index: indices of the elements below it}`` for every column of every
    T_i, in θ's numbering."""
    out = {}
    for i, t in enumerate(model.terms):
        r, c = model._tri[i]
        sl = np.arange(model.theta_slices[i].start, model.theta_slices[i].stop)
        for col in range(t.p):
            out[int(sl[(r == col) & (c == col)][0])] = sl[(c == col) & (r > col)]
    return out


def _canonical(columns: dict, theta: np.ndarray) -> np.ndarray:
    """θ with every column of T_i whose diagonal element is negative negated (the same
    model: only T_i T_i' matters), so that it satisfies the bounds."""
    x = np.array(theta, dtype=float)
    for diag, below in columns.items():
        if x[diag] < 0:
            x[diag] = -x[diag]
            x[below] = -x[below]
    return x


def _reflections(model: "LmerModel", theta: np.ndarray) -> list[np.ndarray]:
    """Starting points across the boundary from ``theta``.

    The deviance is unchanged when a whole column of T_i changes sign, so a column whose
    diagonal element sits at its bound 0 while the elements below it do not can be a
    false stop: the descent continues on the other side, at ``(+ε, -t_below)``. One point
    per such column.
    """
    out = []
    for diag, below in _columns(model).items():
        if theta[diag] == 0.0 and np.any(theta[below] != 0.0):
            x = theta.copy()
            x[below] = -x[below]
            x[diag] = 0.01
            out.append(x)
    return out


def theta_scales(model: "LmerModel") -> np.ndarray:
    """One scale per element of θ: ``1 / rms(x_r)`` for an element in row r of its term's
    T_i, where x_r is the model-matrix column of that random effect (1 for an intercept).

    A random slope of a covariate measured in thousands has a relative SD of order 1e-4;
    next to an intercept's of order 1, such θ are as badly scaled for a gradient method
    as the covariate is. Divided by these scales they are of the same order, as if the
    covariate had been rescaled to an RMS of 1; the model and its optimum do not change.
    """
    out = []
    for i, t in enumerate(model.terms):
        rms = np.sqrt(np.mean(np.asarray(t.X, dtype=float) ** 2, axis=0))
        rms = np.where(np.isfinite(rms) & (rms > 0), rms, 1.0)
        rows, _ = model._tri[i]
        out.append(1.0 / rms[np.asarray(rows, dtype=int)])
    return np.concatenate(out) if out else np.zeros(0)


class _Scaled:
    """An :class:`LmerModel` seen in the scaled parameters φ = θ / scale (see
    :func:`theta_scales`): what :func:`optimize` needs, nothing else."""

    def __init__(self, model: LmerModel, scale: np.ndarray):
        self.model, self.scale = model, np.asarray(scale, dtype=float)
        self.lower = model.lower                 # 0 or -inf: unchanged by the scale
        self.theta0 = model.theta0 / self.scale  # lme4's start
        self.has_gradient = model.has_gradient
        self.terms, self._tri, self.theta_slices = (model.terms, model._tri,
                                                    model.theta_slices)

    @property
    def n_evals(self):
        return self.model.n_evals

    @n_evals.setter
    def n_evals(self, value):
        self.model.n_evals = value

    def factor(self, phi):
        return self.model.factor(self.scale * np.asarray(phi, dtype=float))

    def _deviance(self, f):
        return self.model._deviance(f)

    def deviance(self, phi):
        return self.model.deviance(self.scale * np.asarray(phi, dtype=float))

    def gradient(self, phi, factor=None):
        return self.scale * self.model.gradient(self.scale * np.asarray(phi, dtype=float),
                                                factor=factor)


def optimize(model: LmerModel):
    """Minimise the profiled deviance over θ within lme4's bounds.

    1. L-BFGS-B from lme4's start (T_i = I), with the exact gradient where the model
       has one (:meth:`LmerModel.gradient`), central differences otherwise (forward
       differences stop short on these problems), one-sided at a bound;
    2. at the optimum, every diagonal element at its bound 0 is moved a few steps up
       (and across the bound: the column's elements below it negated); where the
       deviance falls, L-BFGS-B starts again from the lowest of these points. This is
       the step a derivative-free optimizer such as lme4's BOBYQA takes by itself:
       there the two-sided gradient is 0 by symmetry, and L-BFGS-B stops at what can
       be a saddle point. Repeated until no step inside helps, and likewise from any
       point evaluated on the way with a lower deviance than the optimum. The same
       probe runs during L-BFGS-B, once per element held at its bound for three
       iterations, and stops the run early when a step inside helps (rather than
       polishing the saddle point first: the maximal fhch2010 model spent 124
       iterations there);
    3. lme4's convergence checks (:func:`check_convergence`), with the same one-sided
       test at the bounds; if they fail, COBYQA (a derivative-free trust-region method
       of the BOBYQA family, lme4's default optimizer) from lme4's start, and the best
       point wins.

    The fit never ends at a point with a higher deviance than one it evaluated.
    :func:`lmer` hands this function the model in scaled parameters (:class:`_Scaled`,
    θ divided by :func:`theta_scales`), so that every step above sees parameters of
    the same order whatever the units of the covariates.
    Returns ``(theta, deviance, messages, convergence)``.
    """
    lower = model.lower
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    columns = _columns(model)
    messages = []
    exact = model.has_gradient
    last = {}   # the factor of the last deviance evaluated (the gradient reuses it)

    def deviance(x):
        model.n_evals += 1
        try:
            f = model.factor(x)
        except np.linalg.LinAlgError:
            return np.inf
        last["theta"], last["factor"] = np.array(x, dtype=float), f
        return model._deviance(f)

    fun = _Tracked(deviance if exact else model.deviance)

    if exact:
        def jac(x):
            f = last.get("factor") if np.array_equal(last.get("theta"), x) else None
            try:
                return model.gradient(x, factor=f)
            except np.linalg.LinAlgError:
                # X'V⁻¹X too ill-conditioned for the gradient's Cholesky (an uncentred
                # covariate in the thousands) while the deviance is fine: differences
                return _central_gradient(fun, x, lower)
    else:
        def jac(x):
            return _central_gradient(fun, x, lower)

    def lbfgs(x0, label):
        stuck, probed = {}, set()

        def leave_saddles(intermediate_result):
            # an element held at its bound for 3 iterations is probed once: if a step
            # inside lowers the deviance, stop here (`descend` goes on from that step)
            # rather than polish a saddle point
            x, f = intermediate_result.x, intermediate_result.fun
            at = set(np.where(np.isfinite(lower) & (x == lower))[0].tolist())
            for k in list(stuck):
                if k not in at:
                    del stuck[k]
            for k in at:
                stuck[k] = stuck.get(k, 0) + 1
            ready = [k for k, n in stuck.items() if n >= 3 and k not in probed]
            if ready:
                probed.update(ready)
                _, probes = _boundary_probes(fun, x, lower, columns, only=ready)
                if min(fp for fp, _, _ in probes) < f - _tolerance(f):
                    raise StopIteration

        r = so.minimize(fun, x0, jac=jac, method="L-BFGS-B", bounds=bounds,
                        callback=leave_saddles,
                        options={"ftol": 1e-13, "gtol": 1e-6, "maxiter": 1000})
        saddle = "StopIteration" in r.message
        stop = "stopped at a saddle point on the boundary" if saddle else r.message
        messages.append(f"L-BFGS-B from {label}: {stop} ({r.nit} iterations, "
                        f"deviance {r.fun:.10g})")
        return np.asarray(r.x), float(r.fun)

    def descend(x, f):
        """Restart from a step inside the bound, or from a lower point evaluated, while
        either is lower than the current optimum."""
        for _ in range(50):
            _, probes = _boundary_probes(fun, x, lower, columns)
            if fun.best_f >= f - _tolerance(f):
                break
            start = _canonical(columns, fun.best_x)
            moved = [k for fp, _, k in probes if fp < f - _tolerance(f)]
            label = (f"a step inside the bound of θ{sorted(set(moved))}" if moved
                     else "a lower point evaluated on the way")
            x2, f2 = lbfgs(start, label)
            if f2 >= f:
                break
            x, f = x2, f2
        return x, f

    def check(x):
        return check_convergence(fun, x, lower, columns=columns,
                                 grad=model.gradient if exact else None)

    x, f = descend(*lbfgs(model.theta0, "lme4's start"))
    conv = check(x)
    for _ in range(5):   # the checks found a lower point: go on from there
        if conv.better is None:
            break
        x2, f2 = descend(*lbfgs(_canonical(columns, conv.better),
                                "a lower point found by the convergence checks"))
        if f2 >= f:
            break
        x, f = x2, f2
        conv = check(x)
    if not conv.converged:
        r = so.minimize(fun, model.theta0, method="COBYQA", bounds=so.Bounds(lower, np.inf),
                        options={"final_tr_radius": 1e-8, "maxfev": 500 * len(x)})
        messages.append(f"COBYQA from lme4's start: {r.message} (deviance {r.fun:.10g})")
        if fun.best_f < f - _tolerance(f):
            x2, f2 = descend(*lbfgs(_canonical(columns, fun.best_x), "the best point yet"))
            if f2 < f:
                messages.append(f"kept the better optimum (deviance lower by {f - f2:.3g})")
                x, f = x2, f2
                conv = check(x)
    # values within rounding of a bound are put on it, as lme4 reports them
    x = np.where(np.isfinite(lower) & (x - lower < 1e-10), lower, x)
    f = fun(x)
    if fun.best_f < f - _tolerance(f) and conv.converged:
        conv = dataclasses.replace(
            conv, converged=False, messages=conv.messages + [
                f"a point evaluated during the fit has a lower deviance (by "
                f"{f - fun.best_f:.3g}) than the optimum reported"])
    messages.extend(conv.messages)
    return x, f, messages, conv


# ---------------------------------------------------------------------------
# the public function
# ---------------------------------------------------------------------------
def _check_terms(terms: list[ReTerm], n: int) -> None:
    """lme4's checks on the grouping factors (``checkNlevels``, ``checkZdims``)."""
    for t in terms:
        if t.n_levels < 2:
            raise ValueError(
                f"the grouping factor {t.group!r} of the random term {t.text!r} has only "
                f"{t.n_levels} level in the data: a variance between levels cannot be "
                "estimated from one level. Remove the term, or check the grouping column."
            )
        if t.n_levels >= n:
            raise ValueError(
                f"the grouping factor {t.group!r} of the random term {t.text!r} has "
                f"{t.n_levels} levels for {n} observations: it must have fewer levels than "
                "observations (each level needs repeated measurements)"
            )
        if n <= t.q:
            raise ValueError(
                f"number of observations ({n}) <= number of random effects ({t.q}) for the "
                f"term {t.text!r} ({t.p} per level of {t.group!r} x {t.n_levels} levels): the "
                "random-effects parameters and the residual variance are unidentifiable "
                "(lme4's nobs <= nRE check). Drop random slopes from this term, or use a "
                "grouping factor with fewer levels."
            )


# threadpoolctl's view of the BLAS libraries numpy and scipy loaded, made once at import
# (finding them scans every loaded library: tens of milliseconds)
_THREADPOOL = ThreadpoolController()


def _one_blas_thread():
    """Run the fit with one BLAS thread. Its matrices are small or medium (a few thousand
    rows at most): threads gain little there, and on a shared or busy machine, threads
    waiting for a core make every small BLAS call many times slower (measured: a 480-row
    fit 0.26 s with the default threads, 0.03 s with one)."""
    return _THREADPOOL.limit(limits=1, user_api="blas")


def lmer(formula: str, data: pd.DataFrame, REML: bool = True, *, missing: str = "drop",
         eval_env=None):
    """Fit a linear mixed model with lme4's algorithm: ``lmer(formula, data, REML=True)``.

    Parameters
    ----------
    formula : str
        An lme4 formula, as for :func:`helpers.mixedlm`: ``"y ~ cond + (1 + cond | subject)
        + (1 | item)"``. Any number of crossed or nested grouping factors, each with
        correlated ``(1 + x | g)``, uncorrelated ``(1 + x || g)`` or factor ``(0 + f | g)``
        random effects; ``(1 | a/b)`` and ``(1 | a:b)``. The fixed part goes to patsy as
        written (the same columns and contrasts as ``helpers.mixedlm``).
    data : pandas.DataFrame
        Long format, one row per observation. Not modified.
    REML : bool, default True
        REML (lme4's default) or maximum likelihood (``REML=False``).
    missing : {"drop", "raise"}, default "drop"
        Rows with a missing value in a column the model uses are dropped with a
        ``MissingValuesDropped`` warning that counts them per column (as
        ``helpers.mixedlm`` does; lme4 drops them silently); ``"raise"`` refuses them
        with a ``ValueError`` naming the columns.
    eval_env : mapping, optional
        Names the formula may use besides the columns (default: the caller's namespace).

    Returns
    -------
    helpers.engine.results.LmerResult

    Raises
    ------
    KeyError
        A column the formula uses is not in ``data``.
    ValueError
        A malformed formula, a non-numeric response, missing values, a grouping factor
        with one level, or a term with as many random effects as observations.

    Examples
    --------
    >>> import helpers
    >>> m = helpers.lmer("Reaction ~ Days + (1 + Days | Subject)", helpers.load("sleepstudy"))
    >>> round(m.deviance, 4), round(float(m.fe_params["Days"]), 4)
    (1743.6283, 10.4673)
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    namespace = _formula._caller_namespace(1) if eval_env is None else dict(eval_env)
    frame = _formula.read_frame(formula, data, namespace, missing=missing,
                                allowed_missing=("drop", "raise"), model="lmer")
    parsed, env, work = frame.parsed, frame.env, frame.work

    fixed_formula = f"{parsed.response} ~ {parsed.fixed}"
    try:
        y_df, X_df = patsy.dmatrices(fixed_formula, work, eval_env=patsy.EvalEnvironment([env]),
                                     NA_action="raise", return_type="dataframe")
    except (patsy.PatsyError, SyntaxError) as err:
        raise ValueError(f"patsy cannot build the fixed effects of {formula!r}: {err}") from None
    if y_df.shape[1] != 1:
        raise ValueError(f"the response {parsed.response!r} must be one numeric column")
    X = np.asarray(X_df, dtype=float)
    y = np.asarray(y_df, dtype=float)[:, 0]
    n, p = X.shape
    if np.linalg.matrix_rank(X) < p:
        raise ValueError(
            f"the fixed-effects design of {parsed.fixed!r} is rank deficient ({p} columns, rank "
            f"{np.linalg.matrix_rank(X)}): some effects are aliased (e.g. an empty cell). "
            "Simplify the fixed effects."
        )
    terms = build_terms(parsed.terms, work, env)
    _check_terms(terms, n)

    from .results import LmerResult

    with _one_blas_thread():   # the result's derivatives too (vcov of the variances)
        model = LmerModel(X, y, terms, reml=REML)
        scale = theta_scales(model)
        phi, dev, messages, conv = optimize(_Scaled(model, scale))
        theta = scale * phi
        if not conv.converged:
            warnings.warn(
                f"lmer({formula!r}): the fit did not pass lme4's convergence checks: "
                + "; ".join(conv.messages) + ". Check the result (helpers.is_singular, "
                "result.optimizer_messages); simplify the random effects if they are "
                "not identified.", ConvergenceWarning, stacklevel=2)
        return LmerResult._from_fit(model, theta, dev, messages, conv, formula=formula,
                                    fixed_formula=fixed_formula, X_df=X_df, y=y,
                                    frame=work, env=env, random_terms=parsed.terms)


def spherical_modes(model: LmerModel, f: Factor, rhs: np.ndarray) -> np.ndarray:
    """``L'⁻¹ rhs`` for the blocked factor ``f`` of ``model`` (not the dense path): the
    spherical random effects ũ, in the order of the factor (A level-major, then B
    effect-major). Used by the generalized model's penalized IRLS
    (:mod:`helpers.engine.glmer`)."""
    cp = model.cp
    q_A = cp.l_A * cp.p_A
    if cp.q_B:
        u_B = _solve_lower(f.L_B, rhs[q_A:], transpose=True)
        rhs_A = rhs[:q_A] - np.asarray(f.L_BA.T @ u_B).ravel()
    else:
        u_B, rhs_A = np.zeros(0), rhs
    rhs_A = rhs_A.reshape(cp.l_A, cp.p_A)
    if cp.p_A == 1:
        u_A = rhs_A / f.L_A[:, :, 0]
    else:
        u_A = np.linalg.solve(np.swapaxes(f.L_A, 1, 2), rhs_A[:, :, None])[:, :, 0]
    return np.concatenate([u_A.ravel(), u_B])
