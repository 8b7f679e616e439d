fn main() {
    let dp = sensor::ebpf::Datapath::load(&sensor::ebpf::LoadOptions::default()).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(30));
    drop(dp);
}
