-- When reviewers were last reminded of a review's undecided entries (the approvals
-- webhook, every [approvals] review_reminder_every_secs). One replica sends each reminder:
-- it claims the review by moving reminded_at forward.
ALTER TABLE access_reviews ADD COLUMN reminded_at TEXT;
