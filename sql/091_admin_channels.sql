-- The VIP channel's join-request link, created once and handed to subscribers by /vip.
ALTER TABLE channels ADD COLUMN invite_link text;
