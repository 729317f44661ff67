// SPDX-License-Identifier: MPL-2.0
//! Setting element properties from `name=value` text without panicking:
//! shared by the example programs.

use gst::glib;
use gst::prelude::*;

/// Sets `name=value` on `element`, or says what is wrong with it: no such
/// property, not writable, or a value the property cannot take. (gst's
/// `set_property_from_str` panics on all three.)
pub fn set_property(element: &gst::Element, assignment: &str) -> Result<(), String> {
    let (name, text) = assignment
        .split_once('=')
        .ok_or(format!("expected property=value, got {assignment:?}"))?;
    let pspec = element.find_property(name).ok_or_else(|| {
        let known: Vec<String> = element
            .list_properties()
            .iter()
            .filter(|p| p.owner_type() == element.type_())
            .filter(|p| p.flags().contains(glib::ParamFlags::WRITABLE))
            .map(|p| p.name().to_string())
            .collect();
        format!(
            "{} has no property {name:?}; it has: {}",
            element.name(),
            known.join(", ")
        )
    })?;
    let flags = pspec.flags();
    if !flags.contains(glib::ParamFlags::WRITABLE)
        || flags.contains(glib::ParamFlags::CONSTRUCT_ONLY)
    {
        return Err(format!("property {name} cannot be set"));
    }
    let invalid = |why: String| {
        format!(
            "invalid value {text:?} for property {name} ({}): {why}",
            pspec.value_type()
        )
    };
    let value = glib::Value::deserialize_with_pspec(text, &pspec)
        .map_err(|_| invalid("cannot be parsed".into()))?;
    if let Some(range) = out_of_range(&pspec, &value) {
        return Err(invalid(format!("must be within {range}")));
    }
    element.set_property_from_value(name, &value);
    Ok(())
}

/// The range of a numeric property, when `value` lies outside it.
fn out_of_range(pspec: &glib::ParamSpec, value: &glib::Value) -> Option<String> {
    macro_rules! check {
        ($($spec:ty => $t:ty),*) => {$(
            if let (Some(p), Ok(v)) = (pspec.downcast_ref::<$spec>(), value.get::<$t>()) {
                let (min, max) = (p.minimum(), p.maximum());
                return (!(min..=max).contains(&v)).then(|| format!("{min}..={max}"));
            }
        )*};
    }
    check!(
        glib::ParamSpecInt => i32,
        glib::ParamSpecUInt => u32,
        glib::ParamSpecInt64 => i64,
        glib::ParamSpecUInt64 => u64,
        glib::ParamSpecFloat => f32,
        glib::ParamSpecDouble => f64
    );
    None
}
