//! Table definitions shared by both backends. Times are stored as microseconds since the Unix
//! epoch (BIGINT) so that one column type means the same on PostgreSQL and SQLite.
diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        username_lower -> Text,
        display_name -> Text,
        bio -> Text,
        password_hash -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        share_read_receipts -> Bool,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        family_id -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        spent_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> BigInt,
        user_agent -> Nullable<Text>,
        created_at -> BigInt,
        last_used_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    rooms (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        is_private -> Bool,
        owner_id -> BigInt,
        member_count -> BigInt,
        last_seq -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        kind -> Text,
        direct_key -> Nullable<Text>,
        event_offset -> BigInt,
        log_floor -> BigInt,
    }
}

diesel::table! {
    room_members (room_id, user_id) {
        room_id -> BigInt,
        user_id -> BigInt,
        role -> Text,
        joined_at -> BigInt,
    }
}

diesel::table! {
    messages (id) {
        id -> BigInt,
        room_id -> BigInt,
        seq -> BigInt,
        author_id -> BigInt,
        body -> Text,
        client_msg_id -> Nullable<Text>,
        created_at -> BigInt,
        edited_at -> Nullable<BigInt>,
        deleted -> Bool,
        event_seq -> BigInt,
        reply_to -> Nullable<BigInt>,
        mentions_room -> Bool,
    }
}

diesel::table! {
    attachments (id) {
        id -> Text,
        message_id -> BigInt,
        room_id -> BigInt,
        position -> Integer,
        name -> Text,
        content_type -> Text,
        size -> BigInt,
        width -> Nullable<Integer>,
        height -> Nullable<Integer>,
    }
}

diesel::table! {
    file_trash (file_id) {
        file_id -> Text,
        trashed_at -> BigInt,
    }
}

diesel::table! {
    message_mentions (message_id, user_id) {
        message_id -> BigInt,
        user_id -> BigInt,
        room_id -> BigInt,
        seq -> BigInt,
    }
}

diesel::table! {
    room_events (room_id, event_seq) {
        room_id -> BigInt,
        event_seq -> BigInt,
        kind -> Text,
        message_id -> Nullable<BigInt>,
        user_id -> Nullable<BigInt>,
        emoji -> Nullable<Text>,
        role -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    invites (code) {
        code -> Text,
        room_id -> BigInt,
        created_by -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        max_uses -> Nullable<BigInt>,
        uses -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    reactions (message_id, user_id, emoji) {
        message_id -> BigInt,
        user_id -> BigInt,
        emoji -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    room_reads (room_id, user_id) {
        room_id -> BigInt,
        user_id -> BigInt,
        last_read_seq -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::joinable!(messages -> users (author_id));
diesel::joinable!(attachments -> messages (message_id));
diesel::joinable!(reactions -> messages (message_id));
diesel::joinable!(room_reads -> users (user_id));
diesel::joinable!(invites -> rooms (room_id));
diesel::joinable!(room_members -> users (user_id));
diesel::joinable!(room_members -> rooms (room_id));
diesel::joinable!(room_events -> rooms (room_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    refresh_tokens,
    sessions,
    rooms,
    room_members,
    messages,
    invites,
    reactions,
    room_reads,
    room_events,
    message_mentions,
    attachments,
    file_trash
);
