-- TEMPORARY stand-in for the seed
select * from (values ('2019-04-18'::date)) t(session_date)
