//! The BlockFile contract on the native backends: memory and std::fs files.
#![cfg(not(target_arch = "wasm32"))]

use tonystore::storage::{
    contract, BlockFile, FsDir, MemBlockFile, MemDir, StorageError, StoreDir,
};

#[test]
fn mem_dir_meets_the_contract() {
    contract::check_dir(&MemDir::new(), true);
}

#[test]
fn fs_dir_meets_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    contract::check_dir(&FsDir::create(tmp.path().join("store")).unwrap(), true);
}

#[test]
fn standalone_mem_file_meets_the_contract() {
    contract::check_fresh_file(&MemBlockFile::new("solo"));
}

#[test]
fn file_data_persists_across_directory_instances() {
    let tmp = tempfile::tempdir().unwrap();
    let f = FsDir::create(tmp.path()).unwrap().open("data").unwrap();
    contract::write_persistence_marker(&*f);
    drop(f);
    let again = FsDir::create(tmp.path()).unwrap().open("data").unwrap();
    contract::check_persistence_marker(&*again);
}

#[test]
fn mem_capacity_reports_out_of_space_and_keeps_data() {
    let f = MemBlockFile::with_capacity("small", 16);
    f.write_all_at(0, b"0123456789").unwrap();
    let err = f.write_all_at(8, b"too long for it").unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::OutOfSpace {
                offset: 8,
                len: 15,
                ..
            }
        ),
        "{err:?}"
    );
    let mut buf = [0; 10];
    f.read_exact_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"0123456789", "a failed write changes nothing");
    assert!(
        err.to_string().contains("small"),
        "the message names the file: {err}"
    );
}

#[test]
fn errors_name_the_file() {
    let dir = MemDir::new();
    let f = dir.open("named.log").unwrap();
    let err = f.read_exact_at(3, &mut [0; 2]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "read of 2 bytes at offset 3 is past the end of named.log (0 bytes)"
    );
}
