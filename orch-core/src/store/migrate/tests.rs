//! The migration between two embedded stores (the etcd side is tested
//! against a real etcd in `tests/migrate.rs`).
use super::*;
use crate::store::ListOptions;

fn open(dir: &Path) -> EmbeddedStore {
    EmbeddedStore::open_dir(dir, EmbeddedOptions::default()).unwrap()
}

/// A source with `n` config maps, some updated and one deleted, and a
/// reservation; its revision is ahead of its key count.
async fn filled(dir: &Path, n: usize) -> EmbeddedStore {
    let s = open(dir);
    for i in 0..n {
        let key = format!("/registry/configmaps/default/c{i:04}");
        let kv = s
            .create(&key, format!("{{\"i\":{i}}}").into())
            .await
            .unwrap();
        if i % 3 == 0 {
            s.update(
                &key,
                format!("{{\"i\":{i},\"u\":1}}").into(),
                kv.mod_revision,
            )
            .await
            .unwrap();
        }
    }
    s.delete("/registry/configmaps/default/c0001", None)
        .await
        .unwrap();
    s.create("/registry/ipaddresses/10.96.0.7", b"{}".to_vec())
        .await
        .unwrap();
    s
}

#[tokio::test]
async fn copies_every_key_and_value_across_pages_and_verifies() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = filled(a.path(), 2500).await;
    let target = open(b.path());
    let copied = copy(&source, &target, 8).await.unwrap();
    assert_eq!(copied.keys, 2500);
    assert_eq!(copied.revision, source.current_revision().await.unwrap());
    let c = verify(&source, &target).await.unwrap();
    assert!(
        c.same(),
        "{:?}",
        &c.differences[..c.differences.len().min(5)]
    );
    assert_eq!(c.counts["configmaps"].target, 2499);
    assert_eq!(c.counts["ipaddresses"].target, 1);
    let updated = target
        .get("/registry/configmaps/default/c0003")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.value, b"{\"i\":3,\"u\":1}");

    // A change in the target after the copy is found.
    let kv = target
        .get("/registry/configmaps/default/c0002")
        .await
        .unwrap()
        .unwrap();
    target
        .update(&kv.key, b"{}".to_vec(), kv.mod_revision)
        .await
        .unwrap();
    let c = verify(&source, &target).await.unwrap();
    assert_eq!(c.differences, [Difference::Changed(kv.key.clone())]);
}

#[tokio::test]
async fn refuses_a_target_with_objects_and_writes_nothing() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = filled(a.path(), 10).await;
    let target = open(b.path());
    for key in ["/registry/namespaces/x", "/registry/namespaces/y"] {
        target.create(key, b"{}".to_vec()).await.unwrap();
    }
    let before = target.current_revision().await.unwrap();
    let e = copy(&source, &target, 4).await.unwrap_err();
    assert!(matches!(e, MigrateError::TargetNotEmpty(2)), "{e:?}");
    assert!(e.to_string().contains("2 keys under /registry/"), "{e}");
    assert_eq!(target.current_revision().await.unwrap(), before);
    let page = target.list(&ListOptions::default()).await.unwrap();
    assert_eq!(page.items.len(), 2);
}

#[test]
fn a_data_directory_without_a_store_is_named_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let e = open_embedded(dir.path()).unwrap_err();
    assert!(matches!(e, MigrateError::NoStore(_)), "{e:?}");
    assert!(e.to_string().contains(&dir.path().display().to_string()));
    assert!(!dir.path().join(FILE_NAME).exists(), "nothing is created");
}

#[test]
fn a_store_held_by_a_server_is_refused_naming_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _held = open(dir.path());
    let e = open_embedded(dir.path()).unwrap_err();
    assert!(matches!(e, MigrateError::ServerRunning(_)), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains("stop the orch server"), "{msg}");
}
