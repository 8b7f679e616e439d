//! The verifier's budget: both programs must leave room under it.

use sensor::ebpf::{Datapath, LoadOptions};
use sensor_tests::env;

/// The verifier walks every path of the program and gives up at 1,000,000 processed
/// instructions. This keeps a margin below that budget, so a change that pushes the program
/// toward it fails here, with the figure, rather than at load time on someone's gateway
/// (where a newer or older kernel may count a little differently).
#[test]
fn r1_program_keeps_headroom_under_the_verifier_budget() {
    const BUDGET: u32 = 1_000_000;
    if !env::require_root("r1_program_keeps_headroom_under_the_verifier_budget") {
        return;
    }
    // Both programs: for frames that may span several buffers, and for frames that fit one.
    for multi_buffer in [true, false] {
        let dp = Datapath::load(&LoadOptions {
            multi_buffer,
            ..LoadOptions::default()
        })
        .expect("load the XDP program");
        let Some(processed) = dp.verified_instructions().expect("read the program's info") else {
            panic!("the kernel reports no verified instruction count (needs 5.16+)");
        };
        eprintln!(
            "multi-buffer {multi_buffer}: verifier processed {processed} instructions of its \
             {BUDGET} budget"
        );
        assert!(
            processed <= BUDGET / 2,
            "multi-buffer {multi_buffer}: the verifier processed {processed} instructions: \
             over half of its {BUDGET} budget"
        );
    }
}
