DROP TABLE signup_attempts;
