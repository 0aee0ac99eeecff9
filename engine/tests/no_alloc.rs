//! The per-window feature loop allocates nothing: a counting global allocator watches
//! `FrontEnd::compute` after the first window.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use kindred_engine::FrontEndConfig;
use kindred_engine::features::{Features, FrontEnd};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn computing_a_window_does_not_allocate() {
    let cfg = FrontEndConfig::default();
    let mut front_end = FrontEnd::new(cfg.clone());
    let mut features = Features::new(&cfg);
    let windows: Vec<Vec<f32>> = (0..4)
        .map(|w| {
            (0..cfg.window_samples)
                .map(|i| ((i * (w + 3)) as f32 * 0.01).sin() * 0.5)
                .collect()
        })
        .collect();
    front_end.compute(&windows[0], &mut features).unwrap();

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for window in &windows {
        front_end.compute(window, &mut features).unwrap();
    }
    let allocations = ALLOCATIONS.load(Ordering::SeqCst) - before;
    assert_eq!(
        allocations, 0,
        "FrontEnd::compute allocated {allocations} times in 4 windows"
    );
    // The loop really computed something.
    assert!(features.mel.iter().any(|&v| v > 0.1));
}
