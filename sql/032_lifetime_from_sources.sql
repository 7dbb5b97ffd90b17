-- lifetime_besitos counts besitos earned from sources (grants), not gifts received from other users:
-- two users passing besitos back and forth inflated each other's figure, which rankings and
-- achievements read. Recomputed from the ledger: grants minus reversals of grants.
UPDATE user_balances b
   SET lifetime_besitos = s.earned, updated_at = now()
  FROM (
    SELECT u.user_id,
           GREATEST(0, COALESCE(sum(t.amount) FILTER (WHERE t.type = 'grant' OR (t.type = 'reversal' AND o.type = 'grant')), 0)) AS earned
      FROM user_balances u
      LEFT JOIN transactions t ON t.user_id = u.user_id
      LEFT JOIN transactions o ON o.id = t.reverses
     GROUP BY u.user_id
  ) s
 WHERE s.user_id = b.user_id AND b.lifetime_besitos IS DISTINCT FROM s.earned;
