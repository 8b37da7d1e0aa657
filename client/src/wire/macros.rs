//! `wire_struct!`: a message body is its fields in order, so the struct,
//! its `encoded_len`, `encode` and `decode` are written once, from one list.

macro_rules! wire_struct {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            // Fields carry the names of the spec; the struct doc says what they mean.
            $($(#[$fm])* #[allow(missing_docs)] pub $field: $ty,)*
        }

        impl $crate::wire::Wire for $name {
            fn encoded_len(&self) -> usize {
                0 $(+ $crate::wire::Wire::encoded_len(&self.$field))*
            }
            #[allow(unused_variables)]
            fn encode(&self, buf: &mut bytes::BytesMut) {
                $($crate::wire::Wire::encode(&self.$field, buf);)*
            }
            #[allow(unused_variables)]
            fn decode(r: &mut $crate::wire::Reader) -> Result<Self, $crate::wire::DecodeError> {
                Ok($name { $($field: $crate::wire::Wire::decode(r)?,)* })
            }
        }
    };
}
