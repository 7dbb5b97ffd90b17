-- Administration: VIP subscriptions paid in Telegram Stars, their payments, channels and membership.

-- One VIP record per user: payments and manual grants start or extend it. Access = status 'active'
-- and expires_at in the future; users.status mirrors it ('vip') for the rest of the bot.
CREATE TABLE vip_subscriptions (
  id                bigserial PRIMARY KEY,
  user_id           bigint NOT NULL UNIQUE REFERENCES users (id),
  plan              text NOT NULL,
  status            text NOT NULL CHECK (status IN ('active', 'expired', 'refunded', 'revoked')),
  started_at        timestamptz NOT NULL,
  expires_at        timestamptz NOT NULL,
  -- A Stars subscription that Telegram renews every 30 days (createInvoiceLink with subscription_period).
  recurring         boolean NOT NULL DEFAULT false,
  renewal_canceled  boolean NOT NULL DEFAULT false,
  -- The charge of the recurring subscription (editUserStarSubscription needs it).
  recurring_charge_id text,
  payment_failed_at timestamptz,
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK (expires_at >= started_at)
);
CREATE INDEX vip_subscriptions_expiring ON vip_subscriptions (expires_at) WHERE status = 'active';

-- Every Stars charge, unique by Telegram's charge id (the idempotency key of a payment: a replayed
-- successful_payment finds its row, a second charge of a forwarded invoice is a new row).
-- Accounting data: /borrar keeps these rows (the user row they point to loses the person's data).
CREATE TABLE vip_payments (
  id                 bigserial PRIMARY KEY,
  charge_id          text NOT NULL UNIQUE,
  user_id            bigint REFERENCES users (id),
  subscription_id    bigint REFERENCES vip_subscriptions (id),
  plan               text,
  currency           text NOT NULL,
  amount             integer NOT NULL CHECK (amount >= 0),
  invoice_payload    text NOT NULL,
  -- credited: access given; unmatched: a payload we never issued (kept for admins, no access).
  status             text NOT NULL CHECK (status IN ('credited', 'unmatched', 'refunded')),
  is_recurring       boolean NOT NULL DEFAULT false,
  is_first_recurring boolean NOT NULL DEFAULT false,
  subscription_expiration_date timestamptz,
  period_start       timestamptz,
  period_end         timestamptz,
  update_id          bigint,
  paid_at            timestamptz NOT NULL,
  refunded_at        timestamptz,
  refund_reason      text
);
CREATE INDEX vip_payments_user ON vip_payments (user_id, id DESC);

-- Channels the bot administers, and what each is for.
CREATE TABLE channels (
  chat_id        bigint PRIMARY KEY,
  title          text,
  username       text,
  kind           text CHECK (kind IN ('free', 'vip')),
  bot_status     text NOT NULL,
  added_by       bigint REFERENCES users (id),
  missing_rights text[] NOT NULL DEFAULT '{}',
  updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Who is in which channel, from chat_member updates (the Bot API cannot list members).
CREATE TABLE channel_members (
  chat_id      bigint NOT NULL,
  user_id      bigint NOT NULL REFERENCES users (id),
  status       text NOT NULL,
  invite_link  text,
  joined_at    timestamptz,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (chat_id, user_id)
);
