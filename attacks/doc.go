// Package attacks implements the adversarial attacks taet trains against and
// evaluates with (L∞ unless noted): FGSM, PGD, CW and AutoAttack's members.
// Each is a Go-side iteration over an Oracle, which evaluates logits and
// input gradients; the attack only projects, clips and keeps score.
//
// # Attacks
//
//	name           Go                         oracle loss       cost per batch (oracle calls)
//	fgsm           FGSM                       ce (or Loss)      1 with gradient + 2
//	pgd            PGD                        ce (or Loss)      Steps with gradient + 3
//	cw-linf        PGD{Loss: "cw"}            cw (κ)            as pgd
//	cw-l2          CWL2                       cw (κ)            Steps with gradient + 2
//	apgd-ce        APGD                       ce                (Steps+1)·Restarts with gradient + 2
//	apgd-dlr       APGD{Loss: "dlr"}          dlr               as apgd-ce
//	apgd-t         APGD{Targets: n}           dlr-targeted      (Steps+1)·Restarts per target with gradient + 2
//	fab-t          FAB                        margin-targeted   2·Steps per target (half with gradient) + 2
//	square         Square                     any (logits)      ≤ Queries + 3, no gradient
//	autoattack     AutoAttack(...) Cascade    their union       its members', on the examples left
//
// All but CW-L2, which keeps looking for closer examples, stop early once
// every example of the batch is broken. Every attack satisfies the Attack interface; PGD also has Perturb, the
// trainer's attack (last iterate, no checks).
//
// # Oracles and losses
//
// An attack asks its OracleSet for the losses it names (Attack.Losses), with
// package losses' names and signs; all are ascended and summed over the
// batch, so the gradient of example i depends on example i only:
//
//	ce               log Σ_j exp(z_j) − z_y                   (any per-example scaling, e.g. the mean, is fine for sign steps)
//	cw               min(max_{j≠y} z_j − z_y, κ)               κ bound by the set: 0 for cw-l2, 50 for cw-linf
//	dlr              −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + 1e-12)
//	dlr-targeted     −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12)
//	margin-targeted  z_t − z_y                                 (FAB-T; not in package losses yet)
//
// CWL2 and APGD also recompute loss values from the logits in Go (CWL2's
// objective, APGD's step-size rule), with these definitions. Square reads
// logits only and calls Eval with grad == nil, so its oracle may be a
// forward-only session. Spec.Kappa says which κ a "cw" oracle must bind.
//
// # Batches, seeds and padding
//
// An Oracle has a fixed batch size N, and Attack.Run attacks exactly N
// images. RunDataset runs an attack over a whole data set in batches of
// N, padding the last one with copies of a real example and dropping their
// results. Randomness is per example: example i of a data set attacked
// with seed s draws from rand.NewPCG(Seeds(s, i, 1)[0], FNV-1a(attack
// name)), so its result does not depend on which batch, or which batch
// position, it lands in (for oracles whose per-example loss depends on that
// example alone, as above), and two configurations of one attack (PGD-20,
// PGD-100) start from the same random point.
//
// # What an attack returns
//
// Evaluation follows AutoAttack's convention. A misclassified clean image
// is its own adversarial example. An example is broken at the first point
// the attack evaluates and finds misclassified (PGD, APGD, Square), at the
// closest misclassified point in L2 (CW-L2), or at the closest
// misclassified point within ε (FAB-T); otherwise PGD and FGSM return
// their last iterate, the others the clean image. Keeping the first
// misclassified point makes PGD with more steps never weaker than with
// fewer on the same seeds.
//
// Every Run then checks its own result: all pixels in [0, 1] (not NaN),
// ‖Adv_i − x_i‖_∞ ≤ ε + Tolerance (except CW-L2, which has no ε; its
// Result.MaxL2 reports the distance), else ErrOutOfBounds. And it
// re-evaluates the returned batch: Result.Pred comes from that evaluation,
// and an example claimed broken but classified correctly gives
// ErrUnverified. Result.MaxLinf and MaxL2 report the largest distances.
//
// # Cascades
//
// A Cascade (AutoAttack) runs each member only on the examples still
// classified correctly, always from the clean image. RunDataset re-batches
// those examples for each member, as AutoAttack does, so each member costs
// in proportion to the examples left to it. Since an
// example's randomness does not depend on its batch, the cascade breaks
// every example any of its members breaks alone with the same seed: its
// robust accuracy is at most its strongest member's. DatasetResult.After(m)
// gives the predictions after member m, AutoAttack's per-attack log.
//
// # Suites
//
// Suite("taet") is what the TAET authors ran: fgsm (8/255), pgd-20 and
// pgd-100 (step ε/8, 1/255 at their ε of 8/255, uniform random start), cw-l2 (c = 10, κ = 0, 100
// Adam steps, lr 0.01) and autoattack-10 (AutoAttack "standard" as the
// torchattacks port runs it: 10 iterations, K−1 targets). Suite("standard")
// is autoattack (as Croce and Hein define it: APGD-CE and APGD-T with 100
// iterations, 9 targets, FAB-T, Square with 5000 queries) and cw-linf (PGD-20,
// step ε/4, 2/255 at 8/255, on the CW margin with κ = 50, as AT-BSL evaluates). ByName
// returns any catalogue entry (Names lists them), members included.
//
// # Where this differs from the reference code
//
//   - PGD clips its random start to [0, 1] before the first evaluation.
//   - Per-example randomness and early stops: Square draws its window and
//     signs per example (AutoAttack shares them across the batch), and
//     CW-L2's early stop is per example (torchattacks stops the whole batch
//     when the summed objective rises).
//   - CW-L2's f takes the true max over the other classes (torchattacks
//     masks the true class to 0, not −∞).
//   - FAB-T solves its box-constrained L∞ projection exactly by sorting,
//     and needs the "margin-targeted" oracle loss; see FAB.
//   - APGD's oscillation test compares the first step's loss with 0, which
//     is what the reference's wrap-around index reads.
//
// # Errors and panics
//
// Shape mismatches between the batch and the oracle (labels, seeds, images
// not N of them, labels out of range) are programmer errors and panic with
// an "attacks: ..." message. Everything else is returned as an error that
// names the attack: oracle errors (wrapped), an OracleSet that cannot make
// a loss, an invalid configuration, ErrOutOfBounds and ErrUnverified.
package attacks
