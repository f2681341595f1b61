//! Property tests: the selector parsers never panic, and printing a parsed
//! selector gives a string that parses back to the same selector.

use proptest::prelude::*;

use super::{FieldSelector, LabelSelector};

proptest! {
    #[test]
    fn label_parse_never_panics(s in any::<String>()) {
        let _ = LabelSelector::parse(&s);
    }

    #[test]
    fn label_parse_never_panics_on_selector_like_input(
        s in r"[ a-z0-9!=(),<>./_-]{0,40}|(in|notin|[a-z]{1,3}|[!=(),<> ]){0,12}"
    ) {
        if let Ok(sel) = LabelSelector::parse(&s) {
            let printed = sel.to_string();
            let reparsed = LabelSelector::parse(&printed);
            prop_assert_eq!(reparsed.as_ref(), Ok(&sel), "printed as {:?}", printed);
        }
    }

    #[test]
    fn field_parse_never_panics(s in any::<String>()) {
        let _ = FieldSelector::parse(&s);
    }

    #[test]
    fn field_round_trip(s in r"([a-z.]{1,8}(=|==|!=)([a-z\\,=! ]|\\\\|\\,|\\=){0,6},?){0,4}") {
        if let Ok(sel) = FieldSelector::parse(&s) {
            let printed = sel.to_string();
            if sel.requirements().iter().all(|r| r.value.trim() == r.value) {
                prop_assert_eq!(FieldSelector::parse(&printed), Ok(sel), "printed as {:?}", printed);
            }
        }
    }
}
