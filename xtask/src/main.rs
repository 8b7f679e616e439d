fn main() -> anyhow::Result<()> {
    let dir = xtask::build_ebpf::default_target_dir();
    let obj = xtask::build_ebpf(&dir)?;
    println!("{}", obj.display());
    Ok(())
}
